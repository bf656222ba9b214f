/** Test helpers: an Engine built directly from a Network, over an in-memory WeightStore. */
import type { HostTensor } from '../../../src/backends/types.js';
import { createCpuBackend } from '../../../src/backends/cpu/index.js';
import type { ContextOptions } from '../../../src/backends/types.js';
import type { Engine, EngineConfig, WeightStore } from '../../../src/engine/types.js';
import type { Network } from '../../../src/graph/network.js';
import { mulberry32 } from '../../../src/util/prng.js';

export const MINIMAL_CONFIG: EngineConfig = {
  formatVersion: 1,
  target: 'cpu',
  gpuArch: null,
  build: { maxBatchSize: 1, maxInputLen: 16, maxOutputLen: 16, maxNumTokens: 64, dtype: 'float32' },
  model: null,
  plan: { peakBytes: 0, naiveBytes: 0, offsets: {} },
  passLog: [],
  tpSize: 1,
};

export function weightStore(weights: Record<string, HostTensor>): WeightStore {
  return {
    names: () => Object.keys(weights),
    has: (name) => name in weights,
    get: (name) => {
      const t = weights[name];
      if (!t) throw new Error(`no weight ${name}`);
      return t;
    },
  };
}

export function engineOf(network: Network, weights: Record<string, HostTensor> = {}): Engine {
  return { config: MINIMAL_CONFIG, graph: network.toGraph(), weights: weightStore(weights) };
}

export function contextOf(network: Network, weights: Record<string, HostTensor> = {}, options?: ContextOptions) {
  return createCpuBackend().createContext(engineOf(network, weights), options);
}

export const f32 = (shape: number[], data: ArrayLike<number>): HostTensor => ({ dtype: 'float32', shape, data: Float32Array.from(data) });
export const i32 = (shape: number[], data: ArrayLike<number>): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(data) });

/** Deterministic pseudo-random numbers in [-1, 1) (mulberry32). */
export function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() * 2 - 1;
}

export function randomArray(n: number, next: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => next());
}

/** Max |a − b| over two equal-length arrays (throws on a length mismatch). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
