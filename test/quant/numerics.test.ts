/**
 * Round trips of every format within its bound:
 *  - fp8 e4m3 has 3 mantissa bits, so RNE of a normal value is within 2⁻⁴ relative; values
 *    below the smallest normal (2⁻⁶ after scaling) are subnormal with spacing 2⁻⁹, so the bound
 *    there is 2⁻¹⁰ · scale absolute. Per element: |deq − w| ≤ max(2⁻⁴ |w|, 2⁻¹⁰ s).
 *  - int8/int4 symmetric: |w − q·s| ≤ s/2 (RNE to the nearest multiple of s, no clipping since
 *    s = amax/qmax); the float32 product adds ≤ 2⁻²⁴ relative, covered by a 1e-6 slack.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  dequantizeFp8Weight, dequantizeWo, fp8QuantDequant, packInt4, quantizeFp8Weight, quantizeWo, rne, unpackInt4,
} from '../../src/quant/numerics.js';

function seeded(seed: number, n: number, spread = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32 - 0.5;
    return Math.fround(u * spread * (1 + 20 * u * u * u)); // a few larger values per row
  });
}

describe('rne', () => {
  it('rounds half to even', () => {
    expect([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 2.4, 2.6, -2.6].map((v) => rne(v) + 0)).toEqual([-2, -2, 0, 0, 2, 2, 4, 2, 3, -3]);
  });
});

describe('fp8 weights', () => {
  for (const perChannel of [false, true]) {
    it(`per-${perChannel ? 'channel' : 'tensor'} round trip within max(2^-4 |w|, 2^-10 s)`, () => {
      const [n, k] = [24, 40];
      const w = seeded(perChannel ? 3 : 4, n * k, 3);
      for (let c = 0; c < k; c++) w[5 * k + c] = w[5 * k + c]! * 100; // one row with a much larger range
      const q = quantizeFp8Weight(w, n, k, perChannel);
      expect(q.scales.length).toBe(perChannel ? n : 1);
      const d = dequantizeFp8Weight(q.codes, q.scales, n, k);
      for (let i = 0; i < w.length; i++) {
        const s = q.scales[perChannel ? Math.floor(i / k) : 0]!;
        expect(Math.abs(d[i]! - w[i]!)).toBeLessThanOrEqual(Math.max(2 ** -4 * Math.abs(w[i]!), 2 ** -10 * s) * (1 + 1e-6));
      }
      const amax = Math.max(...Array.from(w.subarray(5 * k, 6 * k), Math.abs));
      // The row's largest value lands on the top of the fp8 range (448 · s) when the scale is its own.
      if (perChannel) expect(Math.max(...Array.from(q.codes.subarray(5 * k, 6 * k), (c) => c & 0x7f))).toBe(0x7e);
      expect(Math.max(...Array.from(d.subarray(5 * k, 6 * k), Math.abs))).toBeCloseTo(amax, 3);
    });
  }

  it('activation quant-dequant: the largest value maps to 448 · a and the rest stay within 2^-4', () => {
    fc.assert(fc.property(fc.float({ min: -1000, max: 1000, noNaN: true }), fc.float({ min: Math.fround(0.01), max: 10, noNaN: true }), (x, a) => {
      const y = fp8QuantDequant(x, a);
      const r = Math.fround(x / a);
      if (Math.abs(r) >= 448) return Math.abs(y) === 448 * a; // saturates
      return Math.abs(y - x) <= Math.max(2 ** -4 * Math.abs(x), 2 ** -10 * a) * (1 + 1e-5);
    }));
  });
});

describe('int8 / int4 weight-only', () => {
  for (const [bits, groupSize, k] of [[8, 128, 200], [8, 64, 64], [4, 128, 256], [4, 64, 96], [4, 64, 71]] as const) {
    it(`int${bits} group ${groupSize}, K ${k}: |err| ≤ s/2`, () => {
      const n = 9;
      const w = seeded(bits * 1000 + k, n * k, 2);
      w.fill(0, 2 * k, 3 * k); // an all-zero row: scale 1, exact zeros
      const q = quantizeWo(w, n, k, bits, groupSize);
      const g = Math.ceil(k / groupSize);
      expect(q.scales.length).toBe(n * g);
      expect(q.qweight.length).toBe(bits === 8 ? n * k : n * Math.ceil(k / 2));
      const d = dequantizeWo({ bits, groupSize, n, k, qweight: q.qweight, scales: q.scales });
      for (let i = 0; i < w.length; i++) {
        const s = q.scales[Math.floor(i / k) * g + Math.floor((i % k) / groupSize)]!;
        expect(Math.abs(d[i]! - w[i]!)).toBeLessThanOrEqual(s / 2 + 1e-6 * Math.abs(w[i]!));
      }
      expect(Array.from(d.subarray(2 * k, 3 * k)).every((v) => v === 0)).toBe(true);
      expect(q.scales[2 * g]).toBe(1);
    });
  }

  it('int4 nibble order: column 2j in the low nibble, 2j+1 in the high nibble, u = q + 8', () => {
    const q = Int8Array.from([-8, 7, 0, -1, 3]); // one row, K = 5 (odd: last high nibble is padding 0)
    const packed = packInt4(q, 1, 5);
    expect(Array.from(packed)).toEqual([0x0 | (0xf << 4), 0x8 | (0x7 << 4), 0xb]);
    expect(Array.from(unpackInt4(packed, 1, 5))).toEqual([0, 15, 8, 7, 11]);
  });

  it('int4 dequantization honours explicit zero points', () => {
    const packed = Uint8Array.from([0x31, 0xf0]); // u = [1, 3, 0, 15]
    const d = dequantizeWo({ bits: 4, groupSize: 2, n: 1, k: 4, qweight: packed, scales: Float32Array.of(0.5, 2), zeros: Uint8Array.of(1, 4) });
    expect(Array.from(d)).toEqual([0, 1, -8, 22]);
  });
});
