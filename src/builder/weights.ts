/**
 * WeightStore wrappers the passes return. Merged weights are built on demand (not cached: the
 * engine writer and backends read each weight once, and caching would hold a second copy).
 */
import type { HostTensor, TypedData } from '../backends/types.js';
import type { DType } from '../graph/types.js';
import type { WeightStore } from '../engine/types.js';
import { ConfigError } from '../errors/index.js';

/** A weight made by concatenating `parts` along dim 0 (the output dim of [N, K] Linear weights). */
export interface MergedWeight {
  readonly parts: readonly string[];
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** A store from plain tensors (tests, seed-style builds). */
export function createMapWeightStore(tensors: Readonly<Record<string, HostTensor>> | ReadonlyMap<string, HostTensor>): WeightStore {
  const map = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  return {
    names: () => [...map.keys()],
    has: (name) => map.has(name),
    get: (name) => {
      const t = map.get(name);
      if (!t) throw new ConfigError(`no weight named '${name}'; pass it in the weights given to buildEngine`);
      return t;
    },
  };
}

export function emptyWeightStore(): WeightStore {
  return createMapWeightStore(new Map());
}

/** A zeroed array of `length` elements in the storage class of `dtype` (as HostTensor holds it). */
function allocFor(dtype: DType, length: number): TypedData {
  switch (dtype) {
    case 'float32': return new Float32Array(length);
    case 'int32': return new Int32Array(length);
    case 'float16':
    case 'bfloat16': return new Uint16Array(length);
    case 'int8': return new Int8Array(length);
    case 'fp8e4m3':
    case 'uint8': return new Uint8Array(length);
  }
}

function concatRows(name: string, spec: MergedWeight, base: WeightStore): HostTensor {
  const parts = spec.parts.map((p) => {
    const t = base.get(p);
    if (t.dtype !== spec.dtype) {
      throw new ConfigError(`cannot merge '${p}' (${t.dtype}) into '${name}' (${spec.dtype}): merged weights need one dtype; convert the checkpoint to one dtype`);
    }
    return t;
  });
  const total = parts.reduce((s, t) => s + t.data.length, 0);
  const expected = spec.shape.reduce((a, b) => a * b, 1);
  if (total !== expected) throw new ConfigError(`merged weight '${name}': parts hold ${total} elements, expected ${expected} for [${spec.shape.join(', ')}]`);
  const out = allocFor(spec.dtype, total);
  let at = 0;
  for (const t of parts) {
    (out as Uint8Array).set(t.data as Uint8Array, at);
    at += t.data.length;
  }
  return { dtype: spec.dtype, shape: [...spec.shape], data: out };
}

/** `base` plus merged weights built on demand from its tensors. */
export function createMergedWeightStore(base: WeightStore, merged: ReadonlyMap<string, MergedWeight>): WeightStore {
  if (merged.size === 0) return base;
  return {
    names: () => [...base.names(), ...merged.keys()],
    has: (name) => merged.has(name) || base.has(name),
    get: (name) => {
      const spec = merged.get(name);
      return spec ? concatRows(name, spec, base) : base.get(name);
    },
  };
}

/** Only the weights named in `keep` (what the graph still references). */
export function createFilteredWeightStore(base: WeightStore, keep: ReadonlySet<string>): WeightStore {
  return {
    names: () => base.names().filter((n) => keep.has(n)),
    has: (name) => keep.has(name) && base.has(name),
    get: (name) => {
      if (!keep.has(name)) throw new ConfigError(`weight '${name}' is not used by the built graph`);
      return base.get(name);
    },
  };
}
