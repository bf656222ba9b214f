/**
 * `kiln build --dtype auto|bfloat16|float16`: the dtype an engine computes in, and the checkpoint's
 * float weights rounded to it at build (so a float16 engine holds float16 weights, on every backend).
 */
import type { HostTensor } from '../backends/types.js';
import type { BuildSettings, Target, WeightStore } from '../engine/types.js';
import { ConfigError } from '../errors/index.js';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../graph/dtype.js';
import type { ModelConfig } from '../models/config.js';
import { expectedWeights } from '../models/weights.js';

export type BuildDtypeFlag = 'auto' | 'bfloat16' | 'float16';
export type FloatDtype = BuildSettings['dtype'];

/** Parses `--dtype`; throws ConfigError naming the flag. */
export function parseBuildDtype(value: string | undefined): BuildDtypeFlag {
  if (value === undefined) return 'auto';
  const v = value === 'bf16' ? 'bfloat16' : value === 'fp16' || value === 'half' ? 'float16' : value;
  if (v === 'auto' || v === 'bfloat16' || v === 'float16') return v;
  throw new ConfigError(`--dtype must be auto, bfloat16 or float16, got '${value}'`);
}

/**
 * The engine's dtype: the flag's, or (auto) the checkpoint's; float32 checkpoints build bfloat16
 * CUDA engines (the GPU runs 16-bit activations).
 */
export function resolveEngineDtype(flag: BuildDtypeFlag, checkpointDtype: FloatDtype, target: Target): FloatDtype {
  if (flag !== 'auto') return flag;
  return target === 'cuda' && checkpointDtype === 'float32' ? 'bfloat16' : checkpointDtype;
}

/** `t` with its values rounded to `to` (RNE); non-float tensors are returned as they are. */
export function castTensor(t: HostTensor, to: FloatDtype): HostTensor {
  if (t.dtype === to) return t;
  const n = t.data.length;
  let f32: Float32Array;
  switch (t.dtype) {
    case 'float32': f32 = t.data as Float32Array; break;
    case 'bfloat16': f32 = Float32Array.from(t.data as Uint16Array, (b) => bf16BitsToF32(b)); break;
    case 'float16': f32 = Float32Array.from(t.data as Uint16Array, (b) => f16BitsToF32(b)); break;
    default: return t;
  }
  if (to === 'float32') return { dtype: to, shape: t.shape, data: f32 };
  const enc = to === 'float16' ? f32ToF16Bits : f32ToBf16Bits;
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = enc(f32[i]!);
  return { dtype: to, shape: t.shape, data: out };
}

/**
 * `base` with the model's float weights (its expected HF weights; quantized tensors and their scales
 * untouched) converted to `to` on read, one tensor at a time.
 */
export function castWeightStore(base: WeightStore, model: ModelConfig, to: FloatDtype): WeightStore {
  const names = new Set(expectedWeights(model).map((w) => w.name));
  return {
    names: () => base.names(),
    has: (name) => base.has(name),
    get: (name) => (names.has(name) ? castTensor(base.get(name), to) : base.get(name)),
  };
}

/** The checkpoint's model and weights as an engine of `dtype` sees them (unchanged when it already is). */
export function withEngineDtype(model: ModelConfig, weights: WeightStore, dtype: FloatDtype): { model: ModelConfig; weights: WeightStore } {
  if (model.dtype === dtype) return { model, weights };
  return { model: { ...model, dtype }, weights: castWeightStore(weights, model, dtype) };
}
