/**
 * Quantized Kiln checkpoints (written by `kiln convert` from a pre-quantized HF checkpoint) hold
 * `<base>.qweight` & co. (quant/types.ts) instead of `<base>.weight`, and `quant` in config.json.
 * `withFloatView` adds a dequantized float32 `<base>.weight` for each, so the model graph (which
 * declares float Linear weights) and calibration run on it; the quantize pass then swaps the
 * quantized tensors back in.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { WeightStore } from '../engine/types.js';
import { CheckpointError } from '../errors/index.js';
import { toFloat32 } from '../graph/dtype.js';
import { dequantizeFp8Weight, dequantizeWo } from './numerics.js';
import { Q, type QuantSummary } from './types.js';

/** The `quant` field of a Kiln checkpoint's config.json, if any. */
export function readCheckpointQuant(dir: string): QuantSummary | undefined {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { quant?: QuantSummary };
  return json.quant;
}

/**
 * Dequantized float32 value of `<base>.weight` from its quantized tensors in `store`. The group
 * size defaults to K / numGroups (exact for imported checkpoints, whose groups divide K); pass
 * it when the last group may be ragged (Kiln's own quantization at K not a multiple of it).
 */
export function dequantizeStored(store: WeightStore, base: string, groupSizeHint?: number): Float32Array {
  const qw = store.get(Q.qweight(base));
  const scale = store.get(Q.weightScale(base));
  const s = toFloat32(scale.dtype, scale.data);
  const n = qw.shape[0]!;
  if (qw.dtype === 'fp8e4m3') return dequantizeFp8Weight(qw.data, s, n, qw.shape[1]!);
  if (qw.dtype !== 'int8' && qw.dtype !== 'uint8') throw new CheckpointError(`'${Q.qweight(base)}' is ${qw.dtype}; expected fp8e4m3, int8 or uint8`);
  const bits = qw.dtype === 'int8' ? 8 : 4;
  const pre = store.has(Q.preScale(base)) ? store.get(Q.preScale(base)) : undefined;
  const k = pre ? pre.shape[0]! : bits === 8 ? qw.shape[1]! : qw.shape[1]! * 2;
  const groupSize = groupSizeHint ?? Math.ceil(k / scale.shape[1]!);
  const zeros = store.has(Q.zeros(base)) ? store.get(Q.zeros(base)).data : undefined;
  const w = dequantizeWo({ bits, groupSize, n, k, qweight: qw.data, scales: s, ...(zeros ? { zeros } : {}) });
  if (pre) {
    const p = toFloat32(pre.dtype, pre.data);
    for (let i = 0; i < w.length; i++) w[i] = w[i]! * p[i % k]!;
  }
  return w;
}

/** `store` plus a float32 `<base>.weight` for every `<base>.qweight` it holds. */
export function withFloatView(store: WeightStore): WeightStore {
  const bases = store.names().filter((n) => n.endsWith('.qweight')).map((n) => n.slice(0, -'.qweight'.length));
  const views = new Map(bases.map((b) => [`${b}.weight`, b]));
  return {
    names: () => [...store.names(), ...[...views.keys()].filter((n) => !store.has(n))],
    has: (name) => views.has(name) || store.has(name),
    get: (name) => {
      const base = views.get(name);
      if (base === undefined || store.has(name)) return store.get(name);
      const qw = store.get(Q.qweight(base));
      const w = dequantizeStored(store, base);
      const n = qw.shape[0]!;
      return { dtype: 'float32', shape: [n, w.length / n], data: w };
    },
  };
}
