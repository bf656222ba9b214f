/**
 * Speculative scheduling with a real engine: the llama3-gqa fixture (HF weights) on the CPU backend,
 * wrapped so that it offers enqueueAndSample (the step computes at enqueue, its tokens arrive a
 * macrotask later, as from a GPU). The same requests through the synchronous path must give the
 * same tokens, with chunked prefill, preemption (a tight KV pool) and a shared prefix, and the
 * speculation must have hit. The fakes elsewhere use hashed logits; this one uses the model's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCpuBackend } from '../../../src/backends/cpu/index.js';
import type { ExecutionContext, HostTensor, PendingStep, RowSampling, SampledStep, StepInputs } from '../../../src/backends/types.js';
import { Builder } from '../../../src/builder/builder.js';
import { openCheckpoint } from '../../../src/checkpoint/index.js';
import type { Engine } from '../../../src/engine/types.js';
import { parseHfConfig } from '../../../src/models/hf-config.js';
import { defineLlama } from '../../../src/models/llama.js';
import type { GenerateRequest, RequestResult, SamplingParams } from '../../../src/runtime/api.js';
import { Executor, type ExecutorSettings } from '../../../src/runtime/executor/executor.js';
import type { TextTokenizer } from '../../../src/tokenizer/types.js';
import { FIXTURES_DIR } from '../../models/reference.js';
import { byteTokenizer, testRng } from '../fakes.js';

const dir = path.join(FIXTURES_DIR, 'llama3-gqa');
const configFile = path.join(dir, 'config.json');
const config = parseHfConfig(JSON.parse(fs.readFileSync(configFile, 'utf8')), configFile);
const checkpoint = openCheckpoint(dir);
afterAll(() => checkpoint.dispose());
const settings: ExecutorSettings = { maxBatchSize: 4, maxNumTokens: 24, maxInputLen: 64, maxOutputLen: 32 };
const TOKENS_PER_BLOCK = 4;
const NUM_BLOCKS = 28;
/** The fixture's vocabulary is 256 ids: bytes, with EOS at a byte the fixture's model often picks (226). */
const tokenizer: TextTokenizer = { ...byteTokenizer, vocabSize: config.vocabSize, eosTokenIds: [226] };

function buildEngine(): Engine {
  const builder = new Builder();
  const network = builder.createNetwork();
  defineLlama(network, config);
  return builder.buildEngine(network, { target: 'cpu', weights: checkpoint, model: config, settings: { ...settings, dtype: 'float32' } });
}

function cpuContext(engine: Engine): ExecutionContext {
  return createCpuBackend().createContext(engine, {
    kvCache: { numLayers: config.numLayers, numKvHeads: config.numKvHeads, headDim: config.headDim, numBlocks: NUM_BLOCKS, tokensPerBlock: TOKENS_PER_BLOCK, dtype: 'float32' },
  });
}

/** The CPU context with an asynchronous step API: at most one step in flight, done a macrotask later. */
class AsyncCpuContext implements ExecutionContext {
  readonly sampleOnDevice = true;
  numEnqueued = 0;
  private inFlight = false;
  constructor(private readonly inner: ExecutionContext) {}
  run(step: StepInputs): Record<string, HostTensor> {
    expect(this.inFlight).toBe(false);
    return this.inner.run(step);
  }
  runAndSample(step: StepInputs, sampling: readonly RowSampling[]): SampledStep {
    expect(this.inFlight).toBe(false);
    return this.inner.runAndSample!(step, sampling);
  }
  enqueueAndSample(step: StepInputs, sampling: readonly RowSampling[]): PendingStep<SampledStep> {
    expect(this.inFlight).toBe(false);
    this.inFlight = true;
    this.numEnqueued++;
    const out = this.inner.runAndSample!(step, sampling);
    return { done: () => new Promise((resolve) => setTimeout(() => { this.inFlight = false; resolve(out); }, 0)) };
  }
  memoryUsage(): ReturnType<ExecutionContext['memoryUsage']> {
    return this.inner.memoryUsage();
  }
  dispose(): void {
    this.inner.dispose();
  }
}

function workload(): GenerateRequest[] {
  const rng = testRng(7);
  const prefix = Array.from({ length: 10 }, (_, j) => 40 + j);
  const kinds: SamplingParams[] = [
    { temperature: 0, maxNewTokens: 20 },
    { temperature: 0.9, seed: 5, maxNewTokens: 16, ignoreEos: true },
    { temperature: 0, maxNewTokens: 12, stopTokenIds: [100, 101] },
    { temperature: 0.7, seed: 9, topK: 20, maxNewTokens: 24 },
  ];
  return Array.from({ length: 10 }, (_, i) => {
    const own = Array.from({ length: 3 + Math.floor(rng() * 30) }, () => Math.floor(rng() * 256));
    return { requestId: `q${i}`, promptTokenIds: i % 3 === 0 ? [...prefix, ...own] : own, params: kinds[i % kinds.length]! };
  });
}

async function runAll(ex: Executor, reqs: GenerateRequest[]): Promise<RequestResult[]> {
  // Half at once, the rest while the first half decodes (arrivals during speculation).
  const first = ex.generate(reqs.slice(0, 5));
  await new Promise((r) => setTimeout(r, 2));
  const second = ex.generate(reqs.slice(5));
  return [...await first, ...await second];
}

const strip = (rs: readonly RequestResult[]): unknown => rs.map((r) => r.outputs.map((o) => ({ ids: o.tokenIds, reason: o.finishReason })));

describe('speculative scheduling on a real engine (CPU backend behind an async step API)', () => {
  it('gives the synchronous path\'s tokens, with preemption, chunked prefill and prefix reuse', async () => {
    const engine = buildEngine();
    const reqs = workload();
    const syncEx = new Executor({ context: cpuContext(engine), tokenizer, settings, kv: { numBlocks: NUM_BLOCKS, tokensPerBlock: TOKENS_PER_BLOCK } });
    const expected = await runAll(syncEx, reqs);
    const asyncCtx = new AsyncCpuContext(cpuContext(engine));
    const asyncEx = new Executor({ context: asyncCtx, tokenizer, settings, kv: { numBlocks: NUM_BLOCKS, tokensPerBlock: TOKENS_PER_BLOCK } });
    const got = await runAll(asyncEx, reqs);
    expect(strip(got)).toEqual(strip(expected));
    const spec = asyncEx.stats().speculation;
    expect(asyncCtx.numEnqueued).toBeGreaterThan(20);
    expect(spec?.numHits ?? 0).toBeGreaterThan(5);
    expect(spec?.numMisses ?? 0).toBeGreaterThan(0); // EOS, stop ids and arrivals invalidate some
    const preempted = syncEx.stats().numPreemptions ?? 0;
    expect(preempted).toBeGreaterThan(0);
    expect(got.flatMap((r) => r.outputs.map((o) => o.finishReason))).toContain('stop');
    for (const ex of [syncEx, asyncEx]) {
      expect(ex.stats()).toMatchObject({ numRunning: 0, numWaiting: 0, kv: { numUsed: 0 } });
      ex.kv.checkIntegrity();
      ex.close();
    }
  }, 60_000);
});
