/**
 * In-process benchmarks against an `LLM`: `throughput` (every request queued at once,
 * ignore_eos) and `latency` (one request at a time, prefill and decode timed apart).
 */
import type { ExecutorStats, GenerateRequest, RequestDelta } from '../runtime/api.js';
import { engineFormat, kvPoolInfo, type EngineLike } from './engine-info.js';
import { watchLoopDelay } from './loop-delay.js';
import { summarize } from './stats.js';
import type { BenchResult, EngineFormat, KvPoolInfo, MemorySplit } from './types.js';
import type { BenchRequest } from './workload.js';

/** What the benchmarks need from an engine (the `LLM` class provides it). */
export interface BenchEngine {
  submit(request: GenerateRequest): AsyncIterable<RequestDelta>;
  stats(): ExecutorStats;
  memoryUsage(): MemorySplit;
  /** The loaded engine (config + graph), for the report's formats and weight bytes; optional. */
  readonly engine?: EngineLike;
}

/** Memory split, engine formats and KV pool capacity, read once the run is over. */
function engineFields(engine: BenchEngine): { memory: MemorySplit; format?: EngineFormat; kvPool: KvPoolInfo } {
  const memory = engine.memoryUsage();
  return { memory, ...(engine.engine ? { format: engineFormat(engine.engine) } : {}), kvPool: kvPoolInfo(engine.stats().kv, memory) };
}

/** Timestamps (ms) of one request: submission, then each delta with its token count. */
export interface RequestTrace {
  readonly start: number;
  readonly deltas: { readonly t: number; readonly numTokens: number }[];
}

async function traceRequest(engine: BenchEngine, r: BenchRequest, i: number): Promise<RequestTrace> {
  const start = performance.now();
  const deltas: { t: number; numTokens: number }[] = [];
  const stream = engine.submit({
    requestId: `bench-${i}`,
    promptTokenIds: r.promptTokenIds,
    params: { maxNewTokens: r.outputLen, ignoreEos: true, temperature: 0 },
  });
  for await (const d of stream) {
    if (d.finishReason === 'error') throw new Error(`bench request ${i} failed: ${d.error ?? 'unknown error'}`);
    if (d.tokenIds.length > 0) deltas.push({ t: performance.now(), numTokens: d.tokenIds.length });
  }
  return { start, deltas };
}

/** TTFT and inter-token gaps (a delta of k tokens counts as k gaps of equal length). */
export function latencies(traces: readonly RequestTrace[]): { ttft: number[]; itl: number[] } {
  const ttft: number[] = [];
  const itl: number[] = [];
  for (const tr of traces) {
    const first = tr.deltas[0];
    if (!first) continue;
    ttft.push(first.t - tr.start);
    for (let k = 1; k < tr.deltas.length; k++) {
      const d = tr.deltas[k]!;
      const gap = (d.t - tr.deltas[k - 1]!.t) / d.numTokens;
      for (let j = 0; j < d.numTokens; j++) itl.push(gap);
    }
  }
  return { ttft, itl };
}

function countTokens(traces: readonly RequestTrace[]): number {
  return traces.reduce((s, tr) => s + tr.deltas.reduce((a, d) => a + d.numTokens, 0), 0);
}

function meanLen(requests: readonly BenchRequest[], pick: (r: BenchRequest) => number): number {
  return requests.reduce((s, r) => s + pick(r), 0) / Math.max(1, requests.length);
}

/** Samples KV fragmentation while requests run; returns the mean over samples with blocks in use. */
function sampleFragmentation(engine: BenchEngine): { stop(): number } {
  const samples: number[] = [];
  const timer = setInterval(() => {
    const kv = engine.stats().kv;
    if (kv.numUsed > 0) samples.push(kv.fragmentation);
  }, 20);
  return {
    stop() {
      clearInterval(timer);
      return samples.length ? samples.reduce((a, b) => a + b, 0) / samples.length : 0;
    },
  };
}

export async function benchThroughput(engine: BenchEngine, requests: readonly BenchRequest[], label: string): Promise<BenchResult> {
  const preempt0 = engine.stats().numPreemptions;
  const frag = sampleFragmentation(engine);
  const loop = watchLoopDelay();
  const t0 = performance.now();
  const traces = await Promise.all(requests.map((r, i) => traceRequest(engine, r, i)));
  const seconds = (performance.now() - t0) / 1000;
  const eventLoopDelayMs = loop.stop();
  const fragmentation = frag.stop();
  const outTokens = countTokens(traces);
  const inTokens = requests.reduce((s, r) => s + r.promptTokenIds.length, 0);
  const { ttft, itl } = latencies(traces);
  return {
    mode: 'throughput', label, numRequests: requests.length,
    meanInputLen: meanLen(requests, (r) => r.promptTokenIds.length), meanOutputLen: meanLen(requests, (r) => r.outputLen),
    concurrency: null, durationS: seconds, outputTokPerS: outTokens / seconds, totalTokPerS: (outTokens + inTokens) / seconds,
    reqPerS: requests.length / seconds, ttftMs: summarize(ttft), itlMs: summarize(itl),
    ...engineFields(engine), fragmentation, numPreemptions: engine.stats().numPreemptions - preempt0, eventLoopDelayMs,
  };
}

export async function benchLatency(engine: BenchEngine, requests: readonly BenchRequest[], label: string): Promise<BenchResult> {
  const traces: RequestTrace[] = [];
  const loop = watchLoopDelay();
  const t0 = performance.now();
  for (const [i, r] of requests.entries()) traces.push(await traceRequest(engine, r, i));
  const seconds = (performance.now() - t0) / 1000;
  const eventLoopDelayMs = loop.stop();
  const { ttft, itl } = latencies(traces);
  const outTokens = countTokens(traces);
  const inTokens = requests.reduce((s, r) => s + r.promptTokenIds.length, 0);
  const itlSummary = summarize(itl);
  return {
    mode: 'latency', label, numRequests: requests.length,
    meanInputLen: meanLen(requests, (r) => r.promptTokenIds.length), meanOutputLen: meanLen(requests, (r) => r.outputLen),
    concurrency: 1, durationS: seconds, outputTokPerS: outTokens / seconds, totalTokPerS: (outTokens + inTokens) / seconds,
    reqPerS: requests.length / seconds, ttftMs: summarize(ttft), itlMs: itlSummary,
    prefillMs: summarize(ttft).p50, decodeTokPerS: 1000 / itlSummary.mean,
    ...engineFields(engine), fragmentation: null, numPreemptions: null, eventLoopDelayMs,
  };
}
