/** AWQ's α search, and the AWQ/GPTQ nibble layouts on hand-packed words with known values. */
import { describe, expect, it } from 'vitest';
import type { HostTensor } from '../../src/backends/types.js';
import { CheckpointError } from '../../src/errors/index.js';
import { fromFloat32 } from '../../src/graph/dtype.js';
import { searchAwqScales } from '../../src/quant/awq.js';
import { fp8WeightScale, unpackAwq, unpackGptq } from '../../src/quant/hf-layouts.js';
import { dequantizeWo } from '../../src/quant/numerics.js';
import { seeded } from '../builder/helpers.js';

const i32 = (shape: number[], data: number[]): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(data) });
const f16 = (shape: number[], data: number[]): HostTensor => ({ dtype: 'float16', shape, data: fromFloat32('float16', Float32Array.from(data)) as Uint16Array });
const word = (fields: number[]): number => fields.reduce((w, v, i) => w | ((v & 0xf) << (4 * i)), 0);

describe('AWQ search', () => {
  it('never loses to plain quantization and protects an outlier input channel', () => {
    const [n, k, r] = [16, 64, 32];
    const w = seeded(1, n * k);
    const x = seeded(2, r * k);
    for (let i = 0; i < r; i++) x[i * k + 5] = x[i * k + 5]! * 40; // a salient channel
    const res = searchAwqScales(w, n, k, x, r, 4, 64);
    expect(res.error).toBeLessThanOrEqual(res.plainError);
    expect(res.alpha).toBeGreaterThan(0);
    expect(res.error).toBeLessThan(0.8 * res.plainError);
    expect(res.scales[5]).toBe(Math.max(...res.scales));
  });
});

describe('AWQ gemm layout', () => {
  it('field i of each word holds column AWQ_ORDER[i] = [0,2,4,6,1,3,5,7][i]; zeros likewise', () => {
    // N = 8, K = 2, one group: codes[n][k] = n + 8k (distinct), zeros[n] = n % 3 + 1, scale 0.5 · (n + 1).
    const col = [0, 2, 4, 6, 1, 3, 5, 7];
    const qweight = i32([2, 1], [0, 1].map((k) => word(col.map((n) => (n + 8 * k) % 16))));
    const qzeros = i32([1, 1], [word(col.map((n) => (n % 3) + 1))]);
    const scales = f16([1, 8], Array.from({ length: 8 }, (_, n) => 0.5 * (n + 1)));
    const t = unpackAwq('layer', qweight, qzeros, scales, 8, 2);
    const w = dequantizeWo({ bits: 4, groupSize: 2, n: 8, k: 2, qweight: t.qweight, scales: t.scales, zeros: t.zeros });
    for (let n = 0; n < 8; n++) for (let k = 0; k < 2; k++) expect(w[n * 2 + k]).toBe((((n + 8 * k) % 16) - ((n % 3) + 1)) * 0.5 * (n + 1));
  });
});

describe('GPTQ layout', () => {
  const k = 8, n = 8;
  const codes = (nn: number, kk: number): number => (3 * nn + kk) % 16;
  const qweight = i32([1, n], Array.from({ length: n }, (_, nn) => word(Array.from({ length: 8 }, (_, kk) => codes(nn, kk)))));
  const scales = f16([2, n], Array.from({ length: 2 * n }, (_, i) => 0.25 * (1 + (i % 5))));
  const stored = Array.from({ length: 2 }, (_, g) => word(Array.from({ length: 8 }, (_, nn) => (nn + g) % 4)));
  it('packs K sequentially, zeros along N sequentially, with the +1 zero convention of checkpoint_format gptq', () => {
    for (const offset of [1, 0] as const) {
      const t = unpackGptq('layer', { qweight, qzeros: i32([2, 1], stored), scales, gIdx: i32([8], [0, 0, 0, 0, 1, 1, 1, 1]) }, n, k, offset);
      const w = dequantizeWo({ bits: 4, groupSize: 4, n, k, qweight: t.qweight, scales: t.scales, zeros: t.zeros });
      for (let nn = 0; nn < n; nn++) {
        for (let kk = 0; kk < k; kk++) {
          const g = Math.floor(kk / 4);
          expect(w[nn * k + kk]).toBe((codes(nn, kk) - (((nn + g) % 4) + offset)) * 0.25 * (1 + ((g * n + nn) % 5)));
        }
      }
    }
  });

  it('refuses act-order g_idx and other bit widths, naming the tensor', () => {
    const gIdx = i32([8], [1, 0, 1, 0, 1, 0, 1, 0]);
    expect(() => unpackGptq('m.q_proj', { qweight, qzeros: i32([2, 1], stored), scales, gIdx }, n, k, 1)).toThrow(/'m\.q_proj\.g_idx'.*act-order/);
    const threeBit = i32([3, n], new Array(3 * n).fill(0));
    expect(() => unpackGptq('m.q_proj', { qweight: threeBit, qzeros: i32([2, 1], stored), scales }, n, 32, 1)).toThrow(CheckpointError);
  });
});

describe('FP8 weight scales', () => {
  it('accepts [] / [1] / [N] / [N, 1] and refuses block-wise scales', () => {
    const t = (shape: number[], len: number): HostTensor => ({ dtype: 'float32', shape, data: new Float32Array(len).fill(2) });
    expect(fp8WeightScale('s', t([], 1), 4)).toHaveLength(1);
    expect(fp8WeightScale('s', t([4, 1], 4), 4)).toHaveLength(4);
    expect(() => fp8WeightScale('x.weight_scale', t([2, 2], 4), 4)).toThrow(/'x\.weight_scale'.*block-wise/);
  });
});
