/**
 * Paged attention vs dense naive causal attention (float64) over the same tokens: random
 * non-contiguous block tables, chunked prefill over a cached prefix, decode steps, several
 * sequences of different lengths in one batch, GQA / MQA / MHA, two layers, block copies.
 * Tolerance 1e-5: float32 storage of q/k/v and outputs, |values| <= 1.
 */
import { describe, expect, it } from 'vitest';
import type { AttentionMetadata, KvCacheSpec, SeqAttention } from '../../../src/backends/types.js';
import { BackendError } from '../../../src/errors/index.js';
import { Network, attention, mul } from '../../../src/graph/index.js';
import { contextOf, f32, maxAbsDiff, randomArray, rng } from './helpers.js';

interface Heads { numHeads: number; numKvHeads: number; headDim: number; scale?: number }

/** Per-sequence, per-position q/k/v rows (for layer 0; layer 1 uses k·2 and v·(−1) in the graph). */
interface SeqData { q: Float32Array[]; k: Float32Array[]; v: Float32Array[] }

function makeSeq(len: number, h: Heads, next: () => number): SeqData {
  const row = (n: number) => Array.from({ length: len }, () => randomArray(n, next));
  return { q: row(h.numHeads * h.headDim), k: row(h.numKvHeads * h.headDim), v: row(h.numKvHeads * h.headDim) };
}

/** Dense causal attention of the query at `pos` over keys 0..pos (kScale/vScale: layer 1's transform). */
function denseRow(s: SeqData, pos: number, h: Heads, kScale: number, vScale: number): number[] {
  const { numHeads, numKvHeads, headDim } = h;
  const scale = h.scale ?? 1 / Math.sqrt(headDim);
  const out: number[] = [];
  for (let head = 0; head < numHeads; head++) {
    const kvh = Math.floor(head / (numHeads / numKvHeads));
    const scores: number[] = [];
    for (let j = 0; j <= pos; j++) {
      let d = 0;
      for (let e = 0; e < headDim; e++) d += s.q[pos]![head * headDim + e]! * kScale * s.k[j]![kvh * headDim + e]!;
      scores.push(d * scale);
    }
    const max = Math.max(...scores);
    const ex = scores.map((x) => Math.exp(x - max));
    const sum = ex.reduce((a, b) => a + b, 0);
    for (let e = 0; e < headDim; e++) {
      let acc = 0;
      for (let j = 0; j <= pos; j++) acc += (ex[j]! / sum) * vScale * s.v[j]![kvh * headDim + e]!;
      out.push(acc);
    }
  }
  return out;
}

function buildNet(h: Heads) {
  const net = new Network();
  const q = net.addInput('q', ['t', h.numHeads * h.headDim], 'float32');
  const k = net.addInput('k', ['t', h.numKvHeads * h.headDim], 'float32');
  const v = net.addInput('v', ['t', h.numKvHeads * h.headDim], 'float32');
  const opts = { numHeads: h.numHeads, numKvHeads: h.numKvHeads, headDim: h.headDim, ...(h.scale ? { scale: h.scale } : {}) };
  net.markOutput('out0', attention(q, k, v, { ...opts, layer: 0 }));
  const two = net.addInput('two', [1], 'float32');
  const minusOne = net.addInput('minus_one', [1], 'float32');
  net.markOutput('out1', attention(q, mul(k, two), mul(v, minusOne), { ...opts, layer: 1 }));
  return net;
}

function shuffle(xs: number[], next: () => number): number[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(((next() + 1) / 2) * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/** Runs `schedule` (steps of [sequence, tokens this step]) and checks every output row. */
function simulate(h: Heads, lens: number[], schedule: [number, number][][], seed: number, tokensPerBlock = 4): void {
  const next = rng(seed);
  const seqs = lens.map((len) => makeSeq(len, h, next));
  const blocksNeeded = lens.map((l) => Math.ceil(l / tokensPerBlock));
  const numBlocks = blocksNeeded.reduce((a, b) => a + b, 0) + 3;
  const free = shuffle(Array.from({ length: numBlocks }, (_, i) => i), next); // non-contiguous tables
  const tables = blocksNeeded.map((n) => Int32Array.from(free.splice(0, n)));
  const spec: KvCacheSpec = { numLayers: 2, numKvHeads: h.numKvHeads, headDim: h.headDim, numBlocks, tokensPerBlock, dtype: 'float32' };
  const ctx = contextOf(buildNet(h), {}, { kvCache: spec });
  const done = lens.map(() => 0);
  for (const step of schedule) {
    const rows: { s: number; pos: number }[] = [];
    const metas: SeqAttention[] = [];
    for (const [s, n] of step) {
      metas.push({ queryStart: rows.length, numQueryTokens: n, contextLen: done[s]! + n, blockTable: tables[s]! });
      for (let i = 0; i < n; i++) rows.push({ s, pos: done[s]! + i });
      done[s]! += n;
    }
    const slotMapping = Int32Array.from(rows, ({ s, pos }) => tables[s]![Math.floor(pos / tokensPerBlock)]! * tokensPerBlock + (pos % tokensPerBlock));
    const cat = (pick: (d: SeqData) => Float32Array[]) => rows.flatMap(({ s, pos }) => Array.from(pick(seqs[s]!)[pos]!));
    const t = rows.length;
    const out = ctx.run({
      tensors: {
        q: f32([t, h.numHeads * h.headDim], cat((d) => d.q)),
        k: f32([t, h.numKvHeads * h.headDim], cat((d) => d.k)),
        v: f32([t, h.numKvHeads * h.headDim], cat((d) => d.v)),
        two: f32([1], [2]), minus_one: f32([1], [-1]),
      },
      attention: { seqs: metas, slotMapping },
    });
    const want0 = rows.flatMap(({ s, pos }) => denseRow(seqs[s]!, pos, h, 1, 1));
    const want1 = rows.flatMap(({ s, pos }) => denseRow(seqs[s]!, pos, h, 2, -1));
    expect(maxAbsDiff(out['out0']!.data, want0)).toBeLessThan(1e-5);
    expect(maxAbsDiff(out['out1']!.data, want1)).toBeLessThan(1e-5);
  }
  expect(done).toEqual(lens);
}

// Three sequences: A (13 tokens) prefilled in chunks of 5, 5, 3; B (6) in one go then decodes;
// C (3) arrives late; decode steps mix with prefill chunks in one batch.
const LENS = [13, 9, 5];
const SCHEDULE: [number, number][][] = [
  [[0, 5], [1, 6]],
  [[0, 5], [1, 1]],
  [[1, 1], [0, 3], [2, 3]],
  [[2, 1], [1, 1]],
  [[2, 1]],
];

describe('paged attention', () => {
  const configs: [string, Heads][] = [
    ['GQA (4 heads, 2 kv heads)', { numHeads: 4, numKvHeads: 2, headDim: 8 }],
    ['MQA (4 heads, 1 kv head)', { numHeads: 4, numKvHeads: 1, headDim: 8 }],
    ['MHA (3 heads) with a custom scale', { numHeads: 3, numKvHeads: 3, headDim: 4, scale: 0.7 }],
  ];
  for (const [label, heads] of configs) {
    it(`${label}: chunked prefill, decode and mixed batches match dense attention`, () => {
      simulate(heads, LENS, SCHEDULE, 7);
    });
  }

  it('random schedules and block sizes', () => {
    const next = rng(99);
    for (let trial = 0; trial < 6; trial++) {
      const lens = Array.from({ length: 1 + Math.floor((next() + 1) * 2) }, () => 1 + Math.floor((next() + 1) * 8));
      const left = [...lens];
      const schedule: [number, number][][] = [];
      while (left.some((l) => l > 0)) {
        const step: [number, number][] = [];
        left.forEach((l, s) => {
          if (l === 0 || next() < -0.5) return;
          const n = Math.min(l, 1 + Math.floor((next() + 1) * 3));
          step.push([s, n]);
          left[s] = l - n;
        });
        if (step.length > 0) schedule.push(step);
      }
      simulate({ numHeads: 4, numKvHeads: 2, headDim: 4 }, lens, schedule, trial, 1 + (trial % 3) * 2);
    }
  });
});

describe('KV cache management', () => {
  const h: Heads = { numHeads: 2, numKvHeads: 1, headDim: 4 };
  const spec: KvCacheSpec = { numLayers: 2, numKvHeads: 1, headDim: 4, numBlocks: 4, tokensPerBlock: 2, dtype: 'float32' };

  it('blockCopies copy whole blocks in every layer before the step', () => {
    const next = rng(5);
    const s = makeSeq(3, h, next);
    const ctx = contextOf(buildNet(h), {}, { kvCache: spec });
    const tensors = (rows: number[]) => ({
      q: f32([rows.length, 8], rows.flatMap((p) => Array.from(s.q[p]!))),
      k: f32([rows.length, 4], rows.flatMap((p) => Array.from(s.k[p]!))),
      v: f32([rows.length, 4], rows.flatMap((p) => Array.from(s.v[p]!))),
      two: f32([1], [2]), minus_one: f32([1], [-1]),
    });
    // Prefill positions 0, 1 into block 3.
    ctx.run({ tensors: tensors([0, 1]), attention: { seqs: [{ queryStart: 0, numQueryTokens: 2, contextLen: 2, blockTable: Int32Array.of(3, 2) }], slotMapping: Int32Array.of(6, 7) } });
    // A fork reads its prefix from block 0 after copying 3 → 0; position 2 goes to block 1.
    const meta: AttentionMetadata = { seqs: [{ queryStart: 0, numQueryTokens: 1, contextLen: 3, blockTable: Int32Array.of(0, 1) }], slotMapping: Int32Array.of(2) };
    const out = ctx.run({ tensors: tensors([2]), attention: meta, blockCopies: [[3, 0]] });
    expect(maxAbsDiff(out['out0']!.data, denseRow(s, 2, h, 1, 1))).toBeLessThan(1e-5);
    expect(maxAbsDiff(out['out1']!.data, denseRow(s, 2, h, 2, -1))).toBeLessThan(1e-5);
    // Without the copy, block 0 holds zeros and the result differs.
    const ctx2 = contextOf(buildNet(h), {}, { kvCache: spec });
    ctx2.run({ tensors: tensors([0, 1]), attention: { seqs: [{ queryStart: 0, numQueryTokens: 2, contextLen: 2, blockTable: Int32Array.of(3, 2) }], slotMapping: Int32Array.of(6, 7) } });
    const bad = ctx2.run({ tensors: tensors([2]), attention: meta });
    expect(maxAbsDiff(bad['out0']!.data, denseRow(s, 2, h, 1, 1))).toBeGreaterThan(1e-3);
    expect(() => ctx.run({ tensors: tensors([2]), attention: meta, blockCopies: [[3, 9]] })).toThrow(/block 9, outside the KV cache/);
  });

  it('reports its memory: K and V pools of every layer', () => {
    const ctx = contextOf(buildNet(h), {}, { kvCache: spec });
    expect(ctx.memoryUsage().kvCache).toBe(2 * 2 * 4 * 2 * 1 * 4 * 4);
  });

  it('errors: no KV cache, no metadata, bad slots, mismatched heads', () => {
    expect(() => contextOf(buildNet(h))).toThrow(BackendError);
    expect(() => contextOf(buildNet(h))).toThrow(/needs a paged KV cache: pass \{ kvCache/);
    const ctx = contextOf(buildNet(h), {}, { kvCache: spec });
    const tensors = { q: f32([1, 8], new Float32Array(8)), k: f32([1, 4], new Float32Array(4)), v: f32([1, 4], new Float32Array(4)), two: f32([1], [2]), minus_one: f32([1], [-1]) };
    expect(() => ctx.run({ tensors })).toThrow(/no attention metadata/);
    const seqs = [{ queryStart: 0, numQueryTokens: 1, contextLen: 1, blockTable: Int32Array.of(0) }];
    expect(() => ctx.run({ tensors, attention: { seqs, slotMapping: Int32Array.of(8) } })).toThrow(/slotMapping\[0\] = 8 is outside the KV cache/);
    expect(() => ctx.run({ tensors, attention: { seqs, slotMapping: Int32Array.of(0, 1) } })).toThrow(/slotMapping has 2 entries for 1 tokens/);
    const wrong = contextOf(buildNet(h), {}, { kvCache: { ...spec, headDim: 8 } });
    expect(() => wrong.run({ tensors, attention: { seqs, slotMapping: Int32Array.of(0) } })).toThrow(/KV cache has 1 × 8/);
  });

  it('a bfloat16 cache stores rounded keys and values', () => {
    const next = rng(11);
    const s = makeSeq(2, h, next);
    const ctx = contextOf(buildNet(h), {}, { kvCache: { ...spec, dtype: 'bfloat16' } });
    const out = ctx.run({
      tensors: { q: f32([2, 8], [...s.q[0]!, ...s.q[1]!]), k: f32([2, 4], [...s.k[0]!, ...s.k[1]!]), v: f32([2, 4], [...s.v[0]!, ...s.v[1]!]), two: f32([1], [2]), minus_one: f32([1], [-1]) },
      attention: { seqs: [{ queryStart: 0, numQueryTokens: 2, contextLen: 2, blockTable: Int32Array.of(1) }], slotMapping: Int32Array.of(2, 3) },
    });
    const diff = maxAbsDiff(out['out0']!.data, [...denseRow(s, 0, h, 1, 1), ...denseRow(s, 1, h, 1, 1)]);
    expect(diff).toBeGreaterThan(1e-6); // bf16 has 8 significant bits
    expect(diff).toBeLessThan(1e-2);
  });
});
