/**
 * Seeded random weights for engines built with `--load_format dummy` (benchmarks without a
 * checkpoint). One rule shared by every backend, so the CPU and CUDA backends fill the same
 * values: element i of a tensor is a Box-Muller normal from two 32-bit hashes of (2i, 2i+1) and a
 * per-tensor seed; the CUDA kernel (`cuda/kernels/fill.cu`) computes the same formula on the GPU.
 */
import { fmix32 } from '../util/prng.js';

/** Mean and standard deviation of a weight: norm weights are 1, everything else N(0, 0.02²). */
export function dummyInit(name: string): { mean: number; std: number } {
  return /norm/.test(name) ? { mean: 1, std: 0 } : { mean: 0, std: 0.02 };
}

export { fmix32 };

/** The per-tensor seed: FNV-1a of the name mixed with the engine's seed. */
export function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return fmix32((h ^ fmix32(seed >>> 0)) >>> 0);
}

const uniform = (x: number, ts: number): number => ((fmix32((Math.imul(x | 0, 0x9e3779b1) ^ ts) >>> 0) >>> 8) + 0.5) / 16777216;

/** The `n` float32 values of weight `name` (host side; the CPU backend's fill). */
export function dummyValues(seed: number, name: string, n: number): Float32Array {
  const { mean, std } = dummyInit(name);
  const out = new Float32Array(n);
  if (std === 0) return out.fill(mean);
  const ts = tensorSeed(seed, name);
  for (let i = 0; i < n; i++) {
    const u1 = uniform(2 * i, ts);
    const u2 = uniform(2 * i + 1, ts);
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}
