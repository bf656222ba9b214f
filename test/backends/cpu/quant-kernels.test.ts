/**
 * The CPU quantized GEMM kernels against a float64 evaluation of their documented formulas
 * (src/backends/cpu/kernels/quant.ts). The kernels sum in float64 within K blocks and store
 * float32, so they agree with the float64 formula to float32 rounding of O(1) outputs:
 * 1e-5 relative to the output scale.
 */
import { describe, expect, it } from 'vitest';
import { tryGetKernel, type KernelEnv } from '../../../src/backends/cpu/kernels/index.js';
import type { Buf } from '../../../src/backends/cpu/buffer.js';
import { f32ToFp8e4m3Bits, fp8e4m3BitsToF32 } from '../../../src/graph/dtype.js';
import type { NodeDef } from '../../../src/graph/types.js';
import { quantizeFp8Weight, quantizeWo, unpackInt4 } from '../../../src/quant/numerics.js';
import { seeded } from '../../builder/helpers.js';

const env = {} as KernelEnv;
const node = (op: string, attrs: NodeDef['attrs']): NodeDef => ({ id: 0, op, inputs: [0, 1, 2, 3, 4], outputs: [5], attrs });
const close = (got: Float32Array, want: Float64Array): void => {
  const scale = Math.max(...Array.from(want, Math.abs));
  got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(1e-5 * scale));
};

describe('fp8_matmul', () => {
  const [m, k, n] = [5, 48, 12];
  const x = seeded(11, m * k);
  x.fill(0, 2 * k, 3 * k); // an all-zero token: dynamic scale 1, output 0
  const w = seeded(12, n * k);
  for (const mode of ['static', 'dynamic'] as const) {
    for (const perChannel of [false, true]) {
      it(`${mode} activations, per-${perChannel ? 'channel' : 'tensor'} weights`, () => {
        const q = quantizeFp8Weight(w, n, k, perChannel);
        const a = 0.9 / 448;
        const inputs: Buf[] = [
          { data: x, shape: [m, k] },
          { data: Float32Array.from(q.codes, (c) => fp8e4m3BitsToF32(c)), shape: [n, k] }, // as the CPU loader decodes fp8
          { data: q.scales, shape: [q.scales.length] },
          ...(mode === 'static' ? [{ data: Float32Array.of(a), shape: [1] }] : []),
        ];
        const out = tryGetKernel('fp8_matmul')!(inputs, node('fp8_matmul', { activationScale: mode }), [[m, n]], env)[0]!.data as Float32Array;
        const want = new Float64Array(m * n);
        for (let t = 0; t < m; t++) {
          let amax = 0;
          for (let c = 0; c < k; c++) amax = Math.max(amax, Math.abs(x[t * k + c]!));
          const at = mode === 'static' ? a : amax > 0 ? Math.fround(amax / 448) : 1;
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let c = 0; c < k; c++) s += fp8e4m3BitsToF32(f32ToFp8e4m3Bits(Math.fround(x[t * k + c]! / at))) * fp8e4m3BitsToF32(q.codes[j * k + c]!);
            want[t * n + j] = s * at * q.scales[perChannel ? j : 0]!;
          }
        }
        close(out, want);
        expect(Array.from(out.subarray(2 * n, 3 * n)).every((v) => v === 0)).toBe(true);
      });
    }
  }
});

describe('wo_matmul', () => {
  const [m, k, n] = [3, 40, 10];
  const x = seeded(21, m * k), w = seeded(22, n * k);
  for (const bits of [8, 4] as const) {
    it(`int${bits}, group 16 (ragged last group), with zeros and pre_scale`, () => {
      const q = quantizeWo(w, n, k, bits, 16);
      const g = 3;
      const zeros = bits === 4 ? Uint8Array.from({ length: n * g }, (_, i) => 6 + (i % 5)) : undefined;
      const pre = Float32Array.from({ length: k }, (_, i) => 0.5 + (i % 7) / 4);
      const codes = bits === 4 ? unpackInt4(q.qweight, n, k) : q.qweight;
      const inputs: Buf[] = [
        { data: x, shape: [m, k] },
        { data: Int32Array.from(q.qweight), shape: [n, bits === 8 ? k : k / 2] },
        { data: q.scales, shape: [n, g] },
        ...(zeros ? [{ data: Int32Array.from(zeros), shape: [n, g] }] : []),
        { data: pre, shape: [k] },
      ];
      const attrs = { bits, groupSize: 16, inFeatures: k, hasZeros: zeros !== undefined, hasPreScale: true };
      const out = tryGetKernel('wo_matmul')!(inputs, node('wo_matmul', attrs), [[m, n]], env)[0]!.data as Float32Array;
      const want = new Float64Array(m * n);
      for (let t = 0; t < m; t++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let c = 0; c < k; c++) {
            const gi = j * g + Math.floor(c / 16);
            const deq = (codes[j * k + c]! - (zeros ? zeros[gi]! : 0)) * q.scales[gi]!;
            s += Math.fround(x[t * k + c]! * pre[c]!) * deq;
          }
          want[t * n + j] = s;
        }
      }
      close(out, want);
      // A second call reuses the dequantized weight and gives the same result.
      const again = tryGetKernel('wo_matmul')!(inputs, node('wo_matmul', attrs), [[m, n]], env)[0]!.data as Float32Array;
      expect(Array.from(again)).toEqual(Array.from(out));
    });
  }
});
