import { describe, expect, it } from 'vitest';
import { logSoftmax } from '../../../src/runtime/sampling/processors.js';
import { createFakeExecutor, hashLogits, type LogitsFn } from '../fakes.js';

const VOCAB = 4;
const END = 3; // a stop token id inside the tiny vocabulary
const PROMPT = [1, 2];
const model: LogitsFn = hashLogits(VOCAB);

interface Hyp {
  tokens: number[];
  cum: number;
  score: number;
}

/** Every continuation up to `depth` tokens (ending at END when `withEnd`), scored like HF. */
function exhaustive(depth: number, withEnd: boolean, lengthPenalty: number): Hyp[] {
  const out: Hyp[] = [];
  const walk = (tokens: number[], cum: number): void => {
    const lp = logSoftmax(model([...PROMPT, ...tokens]));
    for (let t = 0; t < VOCAB; t++) {
      const next = [...tokens, t];
      const c = cum + (lp[t] as number);
      if ((withEnd && t === END) || next.length === depth) out.push({ tokens: next, cum: c, score: c / Math.pow(next.length, lengthPenalty) });
      else walk(next, c);
    }
  };
  walk([], 0);
  return out.sort((a, b) => b.score - a.score);
}

async function beam(params: Record<string, unknown>, numBlocks = 128) {
  const { executor } = createFakeExecutor({ numBlocks, tokensPerBlock: 4, logitsFn: model, settings: { maxBatchSize: 8 } });
  const [r] = await executor.generate([{ promptTokenIds: PROMPT, params: { maxNewTokens: 3, ...params } }]);
  expect(executor.stats().kv.numUsed).toBe(0);
  executor.kv.checkIntegrity();
  executor.close();
  return r!.outputs;
}

describe('beam search', () => {
  it('with 16 beams over vocab 4, depth 3, returns the exhaustive top 16 in order', async () => {
    const outs = await beam({ beamWidth: 16, ignoreEos: true });
    const best = exhaustive(3, false, 1).slice(0, 16);
    expect(outs.map((o) => o.tokenIds)).toEqual(best.map((h) => h.tokens));
    outs.forEach((o, i) => expect(o.cumulativeLogprob).toBeCloseTo(best[i]!.cum, 9));
    expect(outs.every((o) => o.finishReason === 'length')).toBe(true);
  });

  it('with an end token and length penalty, ranks finished hypotheses of every length like exhaustive search', async () => {
    for (const lengthPenalty of [1, 0.5, 2]) {
      const outs = await beam({ beamWidth: 40, stopTokenIds: [END], lengthPenalty, ignoreEos: true }, 256);
      const all = exhaustive(3, true, lengthPenalty);
      expect(all).toHaveLength(40);
      expect(outs.map((o) => o.tokenIds)).toEqual(all.map((h) => h.tokens));
      outs.forEach((o, i) => expect(o.score).toBeCloseTo(all[i]!.score, 9));
      const ended = outs.filter((o) => o.tokenIds.at(-1) === END);
      expect(ended.every((o) => o.finishReason === 'stop')).toBe(true);
    }
  });

  it('with 2 beams keeps the best 2 partial hypotheses at each step (HF semantics)', async () => {
    const outs = await beam({ beamWidth: 2, ignoreEos: true });
    // Reference beam search written out directly.
    let beams: Hyp[] = [{ tokens: [], cum: 0, score: 0 }];
    for (let step = 0; step < 3; step++) {
      const cands: Hyp[] = [];
      for (const b of beams) {
        const lp = logSoftmax(model([...PROMPT, ...b.tokens]));
        for (let t = 0; t < VOCAB; t++) cands.push({ tokens: [...b.tokens, t], cum: b.cum + (lp[t] as number), score: 0 });
      }
      beams = cands.sort((a, b) => b.cum - a.cum).slice(0, 2);
    }
    expect(outs.map((o) => o.tokenIds)).toEqual(beams.map((b) => b.tokens));
  });

  it('survives a KV pool too small for all beams at once (beams wait for preempted siblings)', async () => {
    const wide = await beam({ beamWidth: 16, ignoreEos: true });
    const { executor } = createFakeExecutor({ numBlocks: 48, tokensPerBlock: 2, logitsFn: model, settings: { maxBatchSize: 4, maxNumTokens: 6 } });
    const companions = executor.generate([0, 1].map((i) => ({ promptTokenIds: Array.from({ length: 30 }, (_, j) => (i + j) % 4), params: { temperature: 0, maxNewTokens: 30, ignoreEos: true } })));
    const [r] = await executor.generate([{ promptTokenIds: PROMPT, params: { maxNewTokens: 3, beamWidth: 16, ignoreEos: true } }]);
    await companions;
    expect(executor.stats().numPreemptions).toBeGreaterThan(0);
    expect(r!.outputs.map((o) => o.tokenIds)).toEqual(wide.map((o) => o.tokenIds));
    expect(executor.stats().kv.numUsed).toBe(0);
    executor.close();
  });
});
