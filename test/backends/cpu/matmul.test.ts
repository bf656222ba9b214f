/**
 * The blocked GEMM against a naive float64 triple loop (fast-check over random shapes), and
 * 16/8-bit weights: decoded once at load, giving exactly the results of float32 weights that
 * hold the same rounded values. Tolerance: float64 accumulation stored as float32 once per
 * K block, so |error| <= ~2 float32 ulps of max(1, |result|).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matmulTransB } from '../../../src/backends/cpu/index.js';
import type { HostTensor } from '../../../src/backends/types.js';
import { createCpuBackend } from '../../../src/backends/cpu/index.js';
import { fromFloat32, toFloat32 } from '../../../src/graph/dtype.js';
import { Network, add, fusedMatmul, matmul, type DType } from '../../../src/graph/index.js';
import { f32, MINIMAL_CONFIG, randomArray, rng, weightStore } from './helpers.js';

function naive(a: Float32Array, w: Float32Array, m: number, k: number, n: number, bias?: Float32Array): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j]! : 0;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * w[j * k + p]!;
      out[i * n + j] = s;
    }
  }
  return out;
}

function relErr(got: Float32Array, want: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  return worst;
}

describe('blocked matmul', () => {
  it('equals the naive product on random shapes (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 41 }), fc.boolean(), fc.integer(), (m, k, n, withBias, seed) => {
        const next = rng(seed);
        const a = randomArray(m * k, next), w = randomArray(n * k, next);
        const bias = withBias ? randomArray(n, next) : undefined;
        const out = new Float32Array(m * n).fill(NaN); // the kernel must overwrite stale contents
        matmulTransB(a, w, out, m, k, n, bias);
        expect(relErr(out, naive(a, w, m, k, n, bias))).toBeLessThan(3e-7);
      }),
      { numRuns: 150 },
    );
  });

  it('splits long K into blocks and wide N into panels', () => {
    const next = rng(3);
    for (const [m, k, n] of [[5, 4500, 3], [9, 64, 1500], [1, 3000, 130]] as const) {
      const a = randomArray(m * k, next), w = randomArray(n * k, next);
      const out = new Float32Array(m * n);
      matmulTransB(a, w, out, m, k, n);
      expect(relErr(out, naive(a, w, m, k, n))).toBeLessThan(5e-7);
    }
  });
});

/** A two-matmul network over weights `wt` [N, K] (transposeB) and `w` [K, N]. */
function twoMatmuls(dtype: DType): Network {
  const net = new Network();
  const x = net.addInput('x', ['t', 6], 'float32');
  const h = fusedMatmul(x, net.addWeight('wt', [5, 6], dtype), net.addWeight('b', [5], dtype), { transposeB: true, activation: 'silu' });
  net.markOutput('y', add(matmul(h, net.addWeight('w', [5, 4], dtype)), net.addWeight('c', [4], dtype)));
  return net;
}

describe('16/8-bit weights', () => {
  const next = rng(17);
  const raw: Record<string, [number[], Float32Array]> = {
    wt: [[5, 6], randomArray(30, next)], b: [[5], randomArray(5, next)], w: [[5, 4], randomArray(20, next)], c: [[4], randomArray(4, next)],
  };
  const x = f32([3, 6], randomArray(18, next));

  for (const dtype of ['bfloat16', 'float16', 'fp8e4m3'] as const) {
    it(`${dtype} weights decode once and equal float32 weights of the rounded values`, () => {
      let gets = 0;
      const stored: Record<string, HostTensor> = {};
      const rounded: Record<string, HostTensor> = {};
      for (const [name, [shape, data]] of Object.entries(raw)) {
        const bits = fromFloat32(dtype, data);
        stored[name] = { dtype, shape, data: bits };
        rounded[name] = f32(shape, toFloat32(dtype, bits));
      }
      const store = weightStore(stored);
      const counting = { ...store, get: (name: string) => { gets++; return store.get(name); } };
      const ctx = createCpuBackend().createContext({ config: MINIMAL_CONFIG, graph: twoMatmuls(dtype).toGraph(), weights: counting });
      const ref = createCpuBackend().createContext({ config: MINIMAL_CONFIG, graph: twoMatmuls('float32').toGraph(), weights: weightStore(rounded) });
      const want = ref.run({ tensors: { x } })['y']!;
      for (let i = 0; i < 3; i++) expect(Array.from(ctx.run({ tensors: { x } })['y']!.data)).toEqual(Array.from(want.data));
      expect(gets).toBe(4); // each weight read once, at load
      // The kept copies are float32, one per weight (w only in its transposed form).
      expect(ctx.memoryUsage().weights).toBe((30 + 5 + 20 + 4) * 4);
    });
  }

  it('a missing or misshapen weight fails at load, naming it', () => {
    const good = Object.fromEntries(Object.entries(raw).map(([n, [s, d]]) => [n, f32(s, d)]));
    const make = (w: Record<string, HostTensor>) => createCpuBackend().createContext({ config: MINIMAL_CONFIG, graph: twoMatmuls('float32').toGraph(), weights: weightStore(w) });
    const { c: _c, ...missing } = good;
    expect(() => make(missing)).toThrow(/weight 'c' is missing/);
    expect(() => make({ ...good, c: f32([2, 2], [1, 2, 3, 4]) })).toThrow(/weight 'c' has shape \[2, 2\].*expects \[4\]/);
  });
});
