import { describe, expect, it } from 'vitest';
import type { RequestDelta, SamplingParams } from '../../../src/runtime/api.js';
import { createSamplingConfig } from '../../../src/runtime/sampling/params.js';
import { sampleToken } from '../../../src/runtime/sampling/sampler.js';
import { BYTE_VOCAB, EOS, createFakeExecutor, hashLogits, ticks } from '../fakes.js';

const model = hashLogits(BYTE_VOCAB);

/** Direct reference: sample token by token from the model, no cache, no batching. */
function reference(prompt: number[], params: SamplingParams, index = 0): number[] {
  const cfg = createSamplingConfig(params);
  const out: number[] = [];
  while (out.length < cfg.maxNewTokens) {
    const ctx = { promptTokens: prompt, outputTokens: out, seed: cfg.seed ?? 0, index, suppress: new Set<number>() };
    const t = sampleToken(model([...prompt, ...out]), cfg, ctx).tokenId;
    out.push(t);
    if (t === EOS) break;
  }
  return out;
}

const PARAMS: SamplingParams = { temperature: 0.9, topK: 50, topP: 0.95, seed: 1234, maxNewTokens: 12, ignoreEos: true };

describe('seeded sampling', () => {
  it('is reproducible and independent of batch companions', async () => {
    const prompt = [5, 6, 7, 8, 9];
    const expected = reference(prompt, PARAMS);
    const alone = createFakeExecutor({ numBlocks: 64, tokensPerBlock: 4 });
    const [a] = await alone.executor.generate([{ promptTokenIds: prompt, params: PARAMS }]);
    expect(a!.outputs[0]!.tokenIds).toEqual(expected);
    alone.executor.close();

    const busy = createFakeExecutor({ numBlocks: 40, tokensPerBlock: 4, settings: { maxNumTokens: 12, maxBatchSize: 4 } });
    const companions = Array.from({ length: 6 }, (_, i) => ({ promptTokenIds: [i, i + 1, i + 2], params: { temperature: 1, maxNewTokens: 20, ignoreEos: true } }));
    const results = await busy.executor.generate([...companions.slice(0, 3), { promptTokenIds: prompt, params: PARAMS }, ...companions.slice(3)]);
    expect(results[3]!.outputs[0]!.tokenIds).toEqual(expected);
    busy.executor.close();
    expect(reference(prompt, { ...PARAMS, seed: 1235 })).not.toEqual(expected);
  });

  it('n > 1 samples fork the prompt blocks after prefill and match the reference per sample index', async () => {
    const prompt = Array.from({ length: 10 }, (_, i) => 100 + i);
    const params = { ...PARAMS, n: 3 };
    const { executor } = createFakeExecutor({ numBlocks: 32, tokensPerBlock: 4 });
    const stream = executor.submit({ promptTokenIds: prompt, params });
    const deltas: RequestDelta[] = [];
    let sharedTables: (readonly number[])[] | null = null;
    for await (const d of stream) {
      deltas.push(d);
      if (deltas.length === 3) {
        // Right after prefill: three sequences, one block table; nothing copied yet.
        sharedTables = [0, 1, 2].map((id) => [...executor.kv.blockTable(id)]);
        expect(executor.stats().kv.numUsed).toBe(3);
      }
    }
    expect(sharedTables).toEqual([[0, 1, 2], [0, 1, 2], [0, 1, 2]]);
    for (let i = 0; i < 3; i++) {
      const tokens = deltas.filter((d) => d.index === i).flatMap((d) => d.tokenIds);
      expect(tokens).toEqual(reference(prompt, params, i));
    }
    expect(reference(prompt, params, 1)).not.toEqual(reference(prompt, params, 2));
    expect(executor.stats().kv.numUsed).toBe(0);
    executor.close();
  });
});

describe('cancellation', () => {
  it('ends the stream with finishReason cancelled and frees every block at once', async () => {
    const { executor } = createFakeExecutor({ numBlocks: 64, tokensPerBlock: 4 });
    const other = executor.generate([{ promptTokenIds: [1, 2, 3], params: { temperature: 0, maxNewTokens: 30, ignoreEos: true } }]);
    const stream = executor.submit({ requestId: 'x', promptTokenIds: Array.from({ length: 9 }, (_, i) => i), params: { temperature: 0, maxNewTokens: 100, ignoreEos: true, n: 2 } });
    const deltas: RequestDelta[] = [];
    let usedBefore = 0;
    for await (const d of stream) {
      deltas.push(d);
      if (deltas.length === 8) {
        usedBefore = executor.stats().kv.numUsed;
        expect(executor.cancel('x')).toBe(true);
        // Only the companion (3 prompt + ≤ 5 tokens = 2 blocks) still holds blocks.
        expect(executor.stats().kv.numUsed).toBe(2);
        executor.kv.checkIntegrity();
      }
    }
    expect(usedBefore).toBeGreaterThan(2);
    const ends = deltas.filter((d) => d.finishReason);
    expect(ends.map((d) => [d.index, d.finishReason])).toEqual([[0, 'cancelled'], [1, 'cancelled']]);
    expect(executor.cancel('x')).toBe(false);
    const [o] = await other;
    expect(o!.outputs[0]!.tokenIds).toHaveLength(30);
    expect(executor.stats().kv.numUsed).toBe(0);
    executor.close();
  });

  it('leaving the stream early cancels the request', async () => {
    const { executor } = createFakeExecutor({ numBlocks: 32, tokensPerBlock: 4 });
    let n = 0;
    for await (const _ of executor.submit({ promptTokenIds: [1, 2, 3], params: { maxNewTokens: 50, ignoreEos: true } })) if (++n === 3) break;
    await ticks(3);
    expect(executor.stats()).toMatchObject({ numRunning: 0, numWaiting: 0, kv: { numUsed: 0 } });
    expect(executor.stats().numGeneratedTokens).toBeLessThan(10);
    executor.close();
  });
});

describe('backend failure', () => {
  it('ends every request in flight with finishReason error and the message; blocks return', async () => {
    const { executor, context } = createFakeExecutor({ numBlocks: 32, tokensPerBlock: 4 });
    const realRun = context.run.bind(context);
    let calls = 0;
    context.run = (step) => {
      if (++calls === 3) throw new Error('device lost');
      return realRun(step);
    };
    const stream = executor.submit({ promptTokenIds: [1, 2, 3], params: { maxNewTokens: 10, ignoreEos: true } });
    const deltas: RequestDelta[] = [];
    for await (const d of stream) deltas.push(d);
    expect(deltas.map((d) => d.tokenIds.length)).toEqual([1, 1, 0]);
    expect(deltas.at(-1)).toMatchObject({ finishReason: 'error', error: 'device lost' });
    expect(executor.stats().kv.numUsed).toBe(0);
    // The executor keeps serving.
    const [r] = await executor.generate([{ promptTokenIds: [4], params: { maxNewTokens: 2, ignoreEos: true } }]);
    expect(r!.outputs[0]!.finishReason).toBe('length');
    executor.close();
  });
});
