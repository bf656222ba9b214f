import { describe, expect, it, vi } from 'vitest';
import type { StepInputs } from '../../../src/backends/types.js';
import type { GenerateRequest, RequestDelta, RequestResult, SamplingParams } from '../../../src/runtime/api.js';
import { Executor, type ExecutorSettings } from '../../../src/runtime/executor/executor.js';
import type * as Runner from '../../../src/runtime/runner/model-runner.js';
import { BYTE_VOCAB, EOS, byteTokenizer, hashLogits, testRng, ticks } from '../fakes.js';
import { AsyncFakeContext } from './async-fake.js';

/** Every buildStepInputs call the executor makes itself (the runner's own calls are not seen): speculative builds. */
const builds = vi.hoisted(() => ({ log: null as string[] | null, made: [] as StepInputs[] }));
vi.mock('../../../src/runtime/runner/model-runner.js', async (importOriginal) => {
  const mod = await importOriginal<typeof Runner>();
  return {
    ...mod,
    buildStepInputs: (out: Parameters<typeof mod.buildStepInputs>[0]): StepInputs => {
      const inputs = mod.buildStepInputs(out);
      builds.log?.push('build');
      builds.made.push(inputs);
      return inputs;
    },
  };
});

const plain = hashLogits(BYTE_VOCAB);
/** EOS is a strong candidate at every step, so greedy and sampled requests often end early. */
const eosModel = (ctx: readonly number[]): Float32Array => {
  const r = plain(ctx);
  r[EOS] = 7.9;
  return r;
};

type Mode = 'speculative' | 'no-speculation' | 'sync';

function withMode<T>(mode: Mode, fn: () => T): T {
  const env = { KILN_SYNC_STEPS: mode === 'sync' ? '1' : undefined, KILN_ASYNC_SCHEDULING: mode === 'no-speculation' ? '0' : undefined };
  const old = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const set = (vals: Record<string, string | undefined>): void => {
    for (const [k, v] of Object.entries(vals)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(env);
  try {
    return fn();
  } finally {
    set(old);
  }
}

interface Setup {
  readonly numBlocks: number;
  readonly settings: ExecutorSettings;
}

function create(mode: Mode, setup: Setup): { ex: Executor; ctx: AsyncFakeContext } {
  const ctx = new AsyncFakeContext(setup.numBlocks, 4, eosModel);
  const ex = withMode(mode, () => new Executor({ context: ctx, tokenizer: byteTokenizer, settings: setup.settings, kv: { numBlocks: setup.numBlocks, tokensPerBlock: 4 } }));
  return { ex, ctx };
}

/** Block pool all free and consistent, nothing left in the scheduler. */
function expectClean(ex: Executor, numBlocks: number): void {
  expect(ex.stats()).toMatchObject({ numRunning: 0, numWaiting: 0, kv: { numUsed: 0, numFree: numBlocks } });
  ex.kv.checkIntegrity();
}

const strip = (r: readonly RequestResult[]): unknown => r.map((x) => x.outputs.map((o) => ({ ids: o.tokenIds, text: o.text, reason: o.finishReason, lps: o.logprobs })));

function paramsFor(i: number, rng: () => number): SamplingParams {
  const maxNewTokens = 4 + Math.floor(rng() * 17);
  const seed = 100 + i;
  const all: SamplingParams[] = [
    { temperature: 0, maxNewTokens, ignoreEos: true },
    { temperature: 0.8, seed, stop: ['e', 'xy'], maxNewTokens, ignoreEos: true },
    { temperature: 0, minTokens: 3, maxNewTokens },
    { temperature: 1, seed, n: 2, maxNewTokens: Math.min(maxNewTokens, 8) },
    { temperature: 0, repetitionPenalty: 1.3, presencePenalty: 0.5, logprobs: 2, maxNewTokens, ignoreEos: true },
    { temperature: 0.7, seed, frequencyPenalty: 0.4, logprobs: 0, topK: 20, maxNewTokens },
    { temperature: 0, stopTokenIds: [97, 101, 200], maxNewTokens, ignoreEos: true },
    { temperature: 0.9, seed, topP: 0.9, minTokens: 2, maxNewTokens },
    { beamWidth: 2, maxNewTokens: 4, ignoreEos: true },
  ];
  return all[i % all.length]!;
}

/** Random prompts (some sharing a 9-token prefix, for prefix reuse) with every kind of sampling. */
function workload(count: number, seed: number): GenerateRequest[] {
  const rng = testRng(seed);
  const prefix = Array.from({ length: 9 }, (_, j) => 30 + j);
  return Array.from({ length: count }, (_, i) => {
    const params = paramsFor(i, rng);
    const short = (params.n ?? 1) > 1 || (params.beamWidth ?? 1) > 1;
    const len = 1 + Math.floor(rng() * (short ? 8 : 30));
    const own = Array.from({ length: len }, () => Math.floor(rng() * 256));
    return { requestId: `r${i}`, promptTokenIds: i % 3 === 1 ? [...prefix, ...own] : own, params };
  });
}

/** Submits at random event-loop turns; requests in `cancelAfter` are cancelled once they streamed that many deltas. */
async function runWorkload(mode: Mode, setup: Setup, reqs: GenerateRequest[], seed: number, cancelAfter = new Map<string, number>()): Promise<{ results: RequestResult[]; ex: Executor }> {
  const { ex } = create(mode, setup);
  const rng = testRng(seed);
  const pending: Promise<RequestResult>[] = [];
  for (const req of reqs) {
    await ticks(Math.floor(rng() * 4));
    const k = cancelAfter.get(req.requestId!);
    pending.push(k === undefined ? ex.generate([req]).then((r) => r[0]!) : streamed(ex, req, k));
  }
  const results = await Promise.all(pending);
  await new Promise((r) => setTimeout(r, 5));
  return { results, ex };
}

async function streamed(ex: Executor, req: GenerateRequest, cancelAt: number): Promise<RequestResult> {
  const deltas: RequestDelta[] = [];
  for await (const d of ex.submit(req)) {
    deltas.push(d);
    if (deltas.length === cancelAt) ex.cancel(req.requestId!);
  }
  const last = deltas.at(-1);
  const ids = deltas.flatMap((d) => d.tokenIds);
  const output = { index: 0, tokenIds: ids, text: deltas.map((d) => d.text).join(''), finishReason: last?.finishReason ?? 'error' };
  return { requestId: req.requestId!, prompt: null, promptTokenIds: [...req.promptTokenIds!], outputs: [output], ttftMs: 0, latencyMs: 0 };
}

const tight: Setup = { numBlocks: 24, settings: { maxBatchSize: 6, maxNumTokens: 16, maxInputLen: 64, maxOutputLen: 64 } };

describe('speculative scheduling (async steps)', () => {
  it('builds step N+1 while step N runs, and enqueues exactly those inputs once N confirms them', async () => {
    const { ex, ctx } = create('speculative', { numBlocks: 64, settings: { maxBatchSize: 8, maxNumTokens: 64, maxInputLen: 256, maxOutputLen: 256 } });
    builds.log = ctx.log;
    builds.made.length = 0;
    const req = { promptTokenIds: [65, 66, 67], params: { temperature: 0, maxNewTokens: 5, ignoreEos: true } };
    const [res] = await ex.generate([req]);
    builds.log = null;
    // Step 1's inputs come from the runner itself; every later step's were built before the previous step was done.
    expect(ctx.log).toEqual(['enqueue 1', 'build', 'done 1', 'enqueue 2', 'build', 'done 2', 'enqueue 3', 'build', 'done 3', 'enqueue 4', 'build', 'done 4', 'enqueue 5', 'done 5']);
    ctx.enqueued.slice(1).forEach((inputs, i) => expect(inputs).toBe(builds.made[i]));
    // The patched token ids are the ones sampled: step n + 1 feeds step n's token.
    const ids = res!.outputs[0]!.tokenIds;
    ctx.enqueued.slice(1).forEach((inputs, i) => expect([...inputs.tensors['input_ids']!.data]).toEqual([ids[i]]));
    expect(ex.stats().speculation).toEqual({ numHits: 4, numMisses: 0 });
    const sync = create('sync', { numBlocks: 64, settings: { maxBatchSize: 8, maxNumTokens: 64, maxInputLen: 256, maxOutputLen: 256 } });
    expect(strip(await sync.ex.generate([req]))).toEqual(strip([res!]));
    expect(sync.ex.stats().speculation).toEqual({ numHits: 0, numMisses: 0 });
    expectClean(ex, 64);
    ex.close();
    sync.ex.close();
  });

  it('KILN_ASYNC_SCHEDULING=0 builds nothing ahead', async () => {
    const { ex, ctx } = create('no-speculation', { numBlocks: 64, settings: { maxBatchSize: 8, maxNumTokens: 64, maxInputLen: 256, maxOutputLen: 256 } });
    builds.log = ctx.log;
    await ex.generate([{ promptTokenIds: [65, 66, 67], params: { temperature: 0, maxNewTokens: 4, ignoreEos: true } }]);
    builds.log = null;
    expect(ctx.log).toEqual(['enqueue 1', 'done 1', 'enqueue 2', 'done 2', 'enqueue 3', 'done 3', 'enqueue 4', 'done 4']);
    expect(ex.stats().speculation).toEqual({ numHits: 0, numMisses: 0 });
    ex.close();
  });

  it('a plain decode batch is all hits, token for token equal to the sync path', async () => {
    const reqs = Array.from({ length: 6 }, (_, i) => ({ promptTokenIds: [10 + i, 20, 30 + i], params: { temperature: i % 2 ? 0.8 : 0, seed: i, maxNewTokens: 12, ignoreEos: true } }));
    const setup = { numBlocks: 64, settings: { maxBatchSize: 8, maxNumTokens: 64, maxInputLen: 256, maxOutputLen: 256 } };
    const spec = create('speculative', setup);
    const got = await spec.ex.generate(reqs);
    const sync = create('sync', setup);
    expect(strip(got)).toEqual(strip(await sync.ex.generate(reqs)));
    // 12 steps (1 prefill + 11 decodes); each of the first 11 had its successor prepared and confirmed.
    expect(spec.ex.stats()).toMatchObject({ numSteps: 12, speculation: { numHits: 11, numMisses: 0 } });
    expectClean(spec.ex, 64);
    spec.ex.close();
    sync.ex.close();
  });

  it('equals the sync path and the non-speculative async path on a mixed workload (arrivals, stops, EOS, n > 1, penalties, logprobs, chunking, preemption, prefix reuse, beams)', async () => {
    let hits = 0, misses = 0, preemptions = 0, prefixHits = 0;
    for (const seed of [1, 2, 3]) {
      const reqs = workload(18, seed);
      const runs = await Promise.all((['sync', 'no-speculation', 'speculative'] as const).map((m) => runWorkload(m, tight, reqs, seed + 50)));
      const [sync, plainAsync, spec] = runs.map((r) => r.results);
      expect(strip(spec!)).toEqual(strip(sync!));
      expect(strip(plainAsync!)).toEqual(strip(sync!));
      for (const r of runs) expectClean(r.ex, tight.numBlocks);
      const st = runs[2]!.ex.stats();
      hits += st.speculation!.numHits;
      misses += st.speculation!.numMisses;
      preemptions += st.numPreemptions;
      prefixHits += st.kv.prefixHitRate;
      runs.forEach((r) => r.ex.close());
    }
    expect(hits).toBeGreaterThan(0);
    expect(misses).toBeGreaterThan(0);
    expect(preemptions).toBeGreaterThan(0);
    expect(prefixHits).toBeGreaterThan(0);
  });

  it('a cancel while a speculated step is in flight undoes the speculation; the others are unaffected', async () => {
    const reqs = workload(12, 9).map((r, i) => ({ ...r, params: { ...r.params, n: 1, beamWidth: 1, seed: i, maxNewTokens: 16, ignoreEos: true } }));
    const cancelAfter = new Map([['r0', 3], ['r4', 1], ['r7', 5]]);
    const want = (await runWorkload('sync', tight, reqs, 5)).results;

    const { results, ex } = await runWorkload('speculative', tight, reqs, 5, cancelAfter);
    results.forEach((r, i) => {
      const o = r.outputs[0]!, w = want[i]!.outputs[0]!;
      if (!cancelAfter.has(r.requestId)) return expect(o.tokenIds).toEqual(w.tokenIds);
      expect(o.finishReason).toBe('cancelled');
      expect(w.tokenIds.slice(0, o.tokenIds.length)).toEqual(o.tokenIds);
    });
    expect(ex.stats().speculation!.numMisses).toBeGreaterThanOrEqual(cancelAfter.size);
    expect(ex.stats().speculation!.numHits).toBeGreaterThan(0);
    expectClean(ex, tight.numBlocks);
    ex.close();
  });
});
