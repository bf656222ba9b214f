import { describe, expect, it } from 'vitest';
import { createSamplingConfig } from '../../../src/runtime/sampling/params.js';
import { randomSeed, uniformAt } from '../../../src/runtime/sampling/prng.js';
import {
  applyMinP, applyPresenceFrequencyPenalty, applyRepetitionPenalty, applyTemperature, applyTopK, applyTopP, argsortDesc, logSoftmax, softmax, topIndices,
} from '../../../src/runtime/sampling/processors.js';
import { sampleToken } from '../../../src/runtime/sampling/sampler.js';
import { testRng } from '../fakes.js';

function randomLogits(seed: number, n: number): Float32Array {
  const rng = testRng(seed);
  return Float32Array.from({ length: n }, () => rng() * 10 - 5);
}

const kept = (l: Float32Array): number[] => [...l.keys()].filter((i) => l[i] !== -Infinity);

describe('logits processors vs direct computation', () => {
  it('repetition penalty (HF): divides positive, multiplies negative logits of seen tokens, once each', () => {
    const l = Float32Array.from([2, -1, 0.5, 3]);
    applyRepetitionPenalty(l, [0, 1, 1], 2);
    expect([...l]).toEqual([1, -2, 0.5, 3]);
  });

  it('presence and frequency penalties (OpenAI) on generated tokens', () => {
    const l = Float32Array.from([1, 1, 1, 1]);
    applyPresenceFrequencyPenalty(l, [2, 2, 3], 0.5, 0.25);
    expect([...l]).toEqual([1, 1, 1 - 0.5 - 0.5, 1 - 0.5 - 0.25]);
  });

  it('temperature divides logits', () => {
    const l = Float32Array.from([1, -2, 4]);
    applyTemperature(l, 0.5);
    expect([...l]).toEqual([2, -4, 8]);
  });

  it('top-k keeps the k largest', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const l = randomLogits(seed, 50);
      const k = 1 + (seed % 10);
      const expected = [...l.keys()].sort((a, b) => l[b]! - l[a]!).slice(0, k).sort((a, b) => a - b);
      applyTopK(l, k);
      expect(kept(l)).toEqual(expected);
    }
  });

  it('top-p keeps each token whose more likely tokens sum to less than p', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const l = randomLogits(seed, 40);
      const p = 0.1 + (seed % 9) / 10;
      const probs = softmax(l);
      const expected = [...l.keys()].filter((i) => {
        let above = 0;
        for (let j = 0; j < probs.length; j++) if (probs[j]! > probs[i]!) above += probs[j]!;
        return above < p;
      });
      applyTopP(l, p);
      expect(kept(l)).toEqual(expected);
    }
  });

  it('min-p keeps tokens with probability ≥ minP × the top probability', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const l = randomLogits(seed, 40);
      const probs = softmax(l);
      const top = Math.max(...probs);
      const expected = [...l.keys()].filter((i) => probs[i]! >= 0.2 * top);
      applyMinP(l, 0.2);
      expect(kept(l)).toEqual(expected);
    }
  });
});

describe('sampler', () => {
  const ctx = { promptTokens: [], outputTokens: [], seed: 7, index: 0, suppress: new Set<number>() };

  it('temperature 0 is greedy; suppressed tokens are never chosen', () => {
    const row = Float32Array.from([0.1, 3, 2.9, -1]);
    expect(sampleToken(row, createSamplingConfig({ temperature: 0 }), ctx).tokenId).toBe(1);
    expect(sampleToken(row, createSamplingConfig({ temperature: 0 }), { ...ctx, suppress: new Set([1]) }).tokenId).toBe(2);
  });

  it('draws from the filtered softmax with the counter-based PRNG (empirical frequencies)', () => {
    const row = Float32Array.from([1, 2, 0.5, 1.5, -3]);
    const cfg = createSamplingConfig({ temperature: 0.8, topK: 3 });
    const counts = new Float64Array(5);
    const N = 20000;
    for (let step = 0; step < N; step++) {
      counts[sampleToken(row, cfg, { ...ctx, seed: step }).tokenId]! += 1;
    }
    const scaled = Float32Array.from([1, 2, 0.5, 1.5, -3].map((x) => x / 0.8));
    applyTopK(scaled, 3);
    const expected = softmax(scaled);
    // 20000 draws: the standard error of a frequency is ≤ 0.0036; allow 4 sigma.
    for (let i = 0; i < 5; i++) expect(Math.abs(counts[i]! / N - expected[i]!)).toBeLessThan(0.015);
    expect(counts[2]).toBe(0);
    expect(counts[4]).toBe(0);
  });

  it('reports logprobs from the raw model distribution, top-n most likely first', () => {
    const row = Float32Array.from([1, 2, 0.5, 1.5]);
    const cfg = createSamplingConfig({ temperature: 0.3, logprobs: 2, seed: 3 });
    const s = sampleToken(row, cfg, ctx);
    const lp = logSoftmax(row);
    expect(s.logprob!.logprob).toBeCloseTo(lp[s.tokenId]!, 12);
    expect(s.logprob!.top.map((t) => t.tokenId)).toEqual([1, 3]);
    expect(s.logprob!.top[0]!.logprob).toBeCloseTo(lp[1]!, 12);
  });

  it('the PRNG is a pure function of (seed, index, step)', () => {
    expect(uniformAt(42, 0, 5)).toBe(uniformAt(42, 0, 5));
    const draws = new Set([uniformAt(42, 0, 5), uniformAt(43, 0, 5), uniformAt(42, 1, 5), uniformAt(42, 0, 6), uniformAt(2 ** 40 + 42, 0, 5)]);
    expect(draws.size).toBe(5);
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const u = uniformAt(1, 2, i);
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      sum += u;
    }
    expect(Math.abs(sum / 10000 - 0.5)).toBeLessThan(0.01);
    expect(Number.isInteger(randomSeed())).toBe(true);
  });
});

describe('sampling params', () => {
  it('fills defaults and rejects bad values naming the field', () => {
    expect(createSamplingConfig()).toMatchObject({ maxNewTokens: 16, temperature: 1, n: 1, beamWidth: 1, topP: 1 });
    expect(() => createSamplingConfig({ topP: 0 })).toThrow(/topP/);
    expect(() => createSamplingConfig({ temperature: -1 })).toThrow(/temperature/);
    expect(() => createSamplingConfig({ n: 2, beamWidth: 2 })).toThrow(/cannot be combined/);
    expect(() => createSamplingConfig({ minTokens: 5, maxNewTokens: 2 })).toThrow(/minTokens/);
    expect(() => createSamplingConfig({ bogus: 1 } as never)).toThrow(/invalid sampling parameter/);
  });
});

describe('topIndices', () => {
  it('equals a full sort, ties by lower index', () => {
    const v = Float64Array.from([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]);
    expect(topIndices(v, 4)).toEqual([5, 7, 4, 8]);
    expect(topIndices(v, 20)).toEqual(argsortDesc(v));
  });
});
