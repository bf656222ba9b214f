/**
 * `kiln bench serve`: streams requests to a running `kiln serve` (or any OpenAI-compatible
 * `/v1/completions`) at a fixed concurrency or a Poisson request rate, and measures
 * throughput, TTFT and inter-token latency from the SSE chunks as a client sees them.
 */
import { summarize } from './stats.js';
import type { BenchResult } from './types.js';
import { createRng, type BenchRequest } from './workload.js';
import { latencies, type RequestTrace } from './offline.js';

export interface ServeBenchOptions {
  readonly baseUrl: string;
  readonly model: string;
  readonly apiKey?: string;
  /** Streams kept in flight; ignored when `requestRate` is set. */
  readonly concurrency: number;
  /** Requests per second (Poisson arrivals), or undefined for closed-loop concurrency. */
  readonly requestRate?: number;
  readonly seed: number;
}

interface StreamedRequest {
  readonly trace: RequestTrace;
  readonly completionTokens: number;
}

async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let sep: number;
    while ((sep = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, sep);
      buffer = buffer.slice(sep + 2);
      for (const line of event.split('\n')) if (line.startsWith('data: ')) yield line.slice(6);
    }
  }
}

async function streamOne(opts: ServeBenchOptions, r: BenchRequest): Promise<StreamedRequest> {
  const start = performance.now();
  const res = await fetch(`${opts.baseUrl.replace(/\/$/, '')}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}) },
    body: JSON.stringify({
      model: opts.model, prompt: r.promptTokenIds, max_tokens: r.outputLen, temperature: 0,
      ignore_eos: true, stream: true, stream_options: { include_usage: true },
    }),
  });
  if (!res.ok || !res.body) throw new Error(`bench serve: HTTP ${res.status}: ${await res.text()}`);
  const deltas: { t: number; numTokens: number }[] = [];
  let completionTokens = 0;
  for await (const data of sseEvents(res.body)) {
    if (data === '[DONE]') break;
    const chunk = JSON.parse(data) as { choices?: { text?: string }[]; usage?: { completion_tokens?: number } };
    if (chunk.usage?.completion_tokens !== undefined) completionTokens = chunk.usage.completion_tokens;
    if (chunk.choices?.some((c) => (c.text ?? '') !== '')) deltas.push({ t: performance.now(), numTokens: 1 });
  }
  return { trace: { start, deltas }, completionTokens };
}

async function closedLoop(opts: ServeBenchOptions, requests: readonly BenchRequest[]): Promise<StreamedRequest[]> {
  const results: StreamedRequest[] = new Array(requests.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < requests.length) {
      const i = next++;
      results[i] = await streamOne(opts, requests[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, requests.length) }, worker));
  return results;
}

async function poissonArrivals(opts: ServeBenchOptions, requests: readonly BenchRequest[], rate: number): Promise<StreamedRequest[]> {
  const rng = createRng(opts.seed);
  const pending: Promise<StreamedRequest>[] = [];
  for (const r of requests) {
    pending.push(streamOne(opts, r));
    const waitMs = (-Math.log(Math.max(rng(), 1e-12)) / rate) * 1000;
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
  return Promise.all(pending);
}

export async function benchServe(opts: ServeBenchOptions, requests: readonly BenchRequest[], label: string): Promise<BenchResult> {
  const t0 = performance.now();
  const streamed = opts.requestRate ? await poissonArrivals(opts, requests, opts.requestRate) : await closedLoop(opts, requests);
  const seconds = (performance.now() - t0) / 1000;
  const { ttft, itl } = latencies(streamed.map((s) => s.trace));
  const outTokens = streamed.reduce((s, x) => s + x.completionTokens, 0);
  const inTokens = requests.reduce((s, r) => s + r.promptTokenIds.length, 0);
  const n = Math.max(1, requests.length);
  return {
    mode: 'serve', label, numRequests: requests.length,
    meanInputLen: inTokens / n, meanOutputLen: requests.reduce((s, r) => s + r.outputLen, 0) / n,
    concurrency: opts.requestRate ? null : opts.concurrency, durationS: seconds,
    outputTokPerS: outTokens / seconds, totalTokPerS: (outTokens + inTokens) / seconds, reqPerS: requests.length / seconds,
    ttftMs: summarize(ttft), itlMs: summarize(itl), memory: null, fragmentation: null, numPreemptions: null,
  };
}
