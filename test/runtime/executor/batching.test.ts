import { describe, expect, it } from 'vitest';
import type { GenerateRequest, RequestDelta, RequestResult } from '../../../src/runtime/api.js';
import { createFakeExecutor, testRng, ticks } from '../fakes.js';

function makeRequests(count: number, seed: number): GenerateRequest[] {
  const rng = testRng(seed);
  return Array.from({ length: count }, (_, i) => {
    const len = 1 + Math.floor(rng() * 40);
    const promptTokenIds = Array.from({ length: len }, () => Math.floor(rng() * 256));
    // Some requests share a prefix so the prefix cache is exercised too.
    if (i % 3 === 2) promptTokenIds.splice(0, 0, ...Array.from({ length: 9 }, (_, j) => j));
    const maxNewTokens = 1 + Math.floor(rng() * 24);
    return { requestId: `r${i}`, promptTokenIds, params: { temperature: 0, maxNewTokens, ignoreEos: true } };
  });
}

async function runAlone(req: GenerateRequest): Promise<number[]> {
  const { executor } = createFakeExecutor({ numBlocks: 64, tokensPerBlock: 4 });
  const [res] = await executor.generate([req]);
  executor.close();
  return [...(res as RequestResult).outputs[0]!.tokenIds];
}

describe('in-flight batching', () => {
  it('gives every request the same greedy tokens as running it alone (chunked prefill, random arrivals, preemption)', async () => {
    const requests = makeRequests(14, 7);
    const alone = await Promise.all(requests.map(runAlone));
    // 24 blocks of 4 tokens: at most 96 cached tokens for ~14 requests of up to 73 tokens each.
    const { executor, context } = createFakeExecutor({
      numBlocks: 24,
      tokensPerBlock: 4,
      settings: { maxBatchSize: 6, maxNumTokens: 16 },
    });
    const rng = testRng(99);
    const pending: Promise<RequestResult[]>[] = [];
    for (const req of requests) {
      await ticks(Math.floor(rng() * 6));
      pending.push(executor.generate([req]));
    }
    const results = (await Promise.all(pending)).flat();
    results.forEach((r, i) => {
      expect(r.outputs[0]!.tokenIds).toEqual(alone[i]);
      expect(r.outputs[0]!.finishReason).toBe('length');
    });
    const stats = executor.stats();
    expect(stats.numPreemptions).toBeGreaterThan(0);
    expect(stats.kv.numUsed).toBe(0);
    expect(stats.kv.numFree).toBe(24);
    expect(stats.numGeneratedTokens).toBe(alone.reduce((n, a) => n + a.length, 0));
    expect(context.numRuns).toBe(stats.numSteps);
    executor.kv.checkIntegrity();
    executor.close();
  });

  it('never crashes or deadlocks on a mixed workload (n > 1, beams, cancellations) in a tiny pool', async () => {
    let numPreemptions = 0;
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const rng = testRng(seed);
      const { executor } = createFakeExecutor({ numBlocks: 20, tokensPerBlock: 2, settings: { maxBatchSize: 6, maxNumTokens: 10 } });
      const pending: Promise<RequestResult[]>[] = [];
      const ids: string[] = [];
      const reqs: GenerateRequest[] = [];
      for (let i = 0; i < 12; i++) {
        await ticks(Math.floor(rng() * 4));
        const kind = i % 3;
        const params = kind === 0 ? { temperature: 0, maxNewTokens: 12, ignoreEos: true }
          : kind === 1 ? { temperature: 1, seed: i, n: 2, maxNewTokens: 6 }
            : { beamWidth: 3, maxNewTokens: 4, ignoreEos: true };
        const id = `m${seed}-${i}`;
        ids.push(id);
        const req = { requestId: id, promptTokenIds: Array.from({ length: 1 + Math.floor(rng() * 8) }, () => Math.floor(rng() * 256)), params };
        reqs.push(req);
        pending.push(executor.generate([req]));
        if (rng() < 0.3) executor.cancel(ids[Math.floor(rng() * ids.length)]!);
        executor.kv.checkIntegrity();
      }
      const results = (await Promise.all(pending)).flat();
      for (const r of results) for (const o of r.outputs) expect(['length', 'stop', 'cancelled']).toContain(o.finishReason);
      // Greedy, seeded n = 2 and beam requests are all deterministic: same outputs as alone.
      for (const [i, r] of results.entries()) {
        if (r.outputs.some((o) => o.finishReason === 'cancelled')) continue;
        const { executor: solo } = createFakeExecutor({ numBlocks: 64, tokensPerBlock: 2 });
        const [a] = await solo.generate([reqs[i]!]);
        solo.close();
        expect(r.outputs.map((o) => o.tokenIds)).toEqual(a!.outputs.map((o) => o.tokenIds));
      }
      expect(executor.stats()).toMatchObject({ numRunning: 0, numWaiting: 0, kv: { numUsed: 0, numFree: 20 } });
      executor.kv.checkIntegrity();
      numPreemptions += executor.stats().numPreemptions;
      executor.close();
    }
    expect(numPreemptions).toBeGreaterThan(0);
  });

  it('splits a long prompt across steps while decodes keep running', async () => {
    const { executor } = createFakeExecutor({ numBlocks: 64, tokensPerBlock: 4, settings: { maxNumTokens: 8 } });
    const finishedAtStep = async (stream: AsyncIterable<RequestDelta>): Promise<number> => {
      for await (const d of stream) if (d.finishReason) return executor.stats().numSteps;
      return -1;
    };
    const short = finishedAtStep(executor.submit({ promptTokenIds: [1, 2], params: { temperature: 0, maxNewTokens: 6, ignoreEos: true } }));
    await ticks(2);
    const long = finishedAtStep(executor.submit({ promptTokenIds: Array.from({ length: 40 }, (_, i) => i), params: { temperature: 0, maxNewTokens: 2, ignoreEos: true } }));
    // The short request decodes every step (1 prefill step + 5 decodes) while the long prompt is
    // prefilled 7 tokens per step next to it (8 tokens per step, decodes first).
    expect(await short).toBe(6);
    expect(await long).toBeGreaterThanOrEqual(2 + Math.ceil(40 / 8));
    executor.close();
  });

  it('rejects a request that can never fit, saying why and the limit', async () => {
    const { executor } = createFakeExecutor({ numBlocks: 4, tokensPerBlock: 4, settings: { maxInputLen: 10, maxOutputLen: 10 } });
    expect(() => executor.submit({ promptTokenIds: Array(11).fill(1) })).toThrow(/11 tokens, more than max_input_len 10/);
    expect(() => executor.submit({ promptTokenIds: [1], params: { maxNewTokens: 20 } })).toThrow(/max_input_len \+ max_output_len = 20/);
    expect(() => executor.submit({ promptTokenIds: Array(10).fill(1), params: { maxNewTokens: 8 } })).toThrow(/needs up to 5 KV blocks .* the cache has 4/);
    await expect(executor.generate([{ promptTokenIds: [1], params: { maxNewTokens: 2 } }, { promptTokenIds: [] }])).rejects.toThrow(/prompt is empty/);
    expect(executor.stats().numWaiting).toBe(0);
    executor.close();
  });
});
