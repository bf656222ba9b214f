/** The CPU KV cache in fp8: per-layer scales applied on write (stored = fp8(x / s) · s), and the engine/cache dtype check. */
import { describe, expect, it } from 'vitest';
import { CpuKvCache } from '../../../src/backends/cpu/kv-cache.js';
import { tryGetKernel, type KernelEnv } from '../../../src/backends/cpu/kernels/index.js';
import { BackendError } from '../../../src/errors/index.js';
import { f32ToFp8e4m3Bits, fp8e4m3BitsToF32 } from '../../../src/graph/dtype.js';

const spec = { numLayers: 2, numKvHeads: 1, headDim: 4, numBlocks: 2, tokensPerBlock: 2, dtype: 'fp8e4m3' as const };
const fp8 = (x: number, s: number): number => fp8e4m3BitsToF32(f32ToFp8e4m3Bits(Math.fround(x / s))) * s;

describe('fp8 KV cache', () => {
  it('rounds K and V with their own per-layer scales (1.0 until set), saturating at 448 · s', () => {
    const cache = new CpuKvCache(spec);
    const k = Float32Array.of(0.013, -0.7, 3.3, 1000), v = Float32Array.of(0.2, 0.31, -5, 0.001);
    cache.write(0, k, v, Int32Array.of(3));
    expect(Array.from(cache.keys[0]!.subarray(12, 16))).toEqual(Array.from(k, (x) => fp8(x, 1)));
    expect(cache.keys[0]![15]).toBe(448);
    cache.setLayerScales(1, 0.01, 0.5);
    cache.write(1, k, v, Int32Array.of(1));
    expect(Array.from(cache.keys[1]!.subarray(4, 8))).toEqual(Array.from(k, (x) => Math.fround(fp8(x, 0.01))));
    expect(Array.from(cache.values[1]!.subarray(4, 8))).toEqual(Array.from(v, (x) => Math.fround(fp8(x, 0.5))));
    expect(cache.keys[1]![7]).toBe(Math.fround(4.48)); // 1000 saturates at 448 · 0.01
    expect(cache.keys[1]![4]).not.toBe(Math.fround(fp8(0.013, 1))); // the scale changed the rounding grid
    expect(() => cache.setLayerScales(0, 0, 1)).toThrow(BackendError);
  });

  it('an fp8-KV attention node on a float32 cache is a BackendError saying what to pass', () => {
    const cache = new CpuKvCache({ ...spec, dtype: 'float32' });
    const env = { kvCache: cache, attention: { seqs: [], slotMapping: new Int32Array(0) } } as unknown as KernelEnv;
    const node = { id: 0, op: 'attention', inputs: [0, 1, 2], outputs: [3], attrs: { numHeads: 1, numKvHeads: 1, headDim: 4, layer: 0, kvCacheDtype: 'fp8e4m3', kScale: 1, vScale: 1 } };
    const empty = { data: new Float32Array(0), shape: [0, 4] };
    expect(() => tryGetKernel('attention')!([empty, empty, empty], node, [[0, 4]], env)).toThrow(/--kv_cache_dtype fp8.*'fp8e4m3'/);
  });
});
