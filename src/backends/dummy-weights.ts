/**
 * Seeded random weights for engines built with `--load_format dummy` (benchmarks without a
 * checkpoint). One rule shared by every backend, so the CPU and CUDA backends fill the same
 * values: element i of a tensor is a Box-Muller normal from two 32-bit hashes of (2i, 2i+1) and a
 * per-tensor seed; the CUDA kernel (`cuda/kernels/fill.cu`) computes the same formula on the GPU.
 * Quantized weights (quant/types.ts) get codes drawn from the same normals and constant scales such
 * that the dequantized weight has the std of the float dummy weight it replaces (`dummyRule`);
 * `cuda/kernels/quant_act.cu` (fill_quant_bytes, fill_f32) draws the same codes on the GPU.
 */
import { f32ToFp8e4m3Bits, fp8e4m3BitsToF32 } from '../graph/dtype.js';
import type { DType } from '../graph/types.js';
import { rne } from '../quant/numerics.js';
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

/** The standard normal of element `j` of a tensor with seed `ts` (Box-Muller on the uniforms of 2j, 2j + 1). */
function normalAt(j: number, ts: number): number {
  return Math.sqrt(-2 * Math.log(uniform(2 * j, ts))) * Math.cos(2 * Math.PI * uniform(2 * j + 1, ts));
}

/** fp8 codes are e4m3(z · FP8_MUL): ±4σ maps to ±448 (beyond saturates). */
export const DUMMY_FP8_MUL = 448 / 4;
/** int8 and int4 codes are clamp(rne(z · WO_MUL)) (±3σ at the int4 extremes ±7); one rule, so a 2-D weight_scale needs no bit width. */
export const DUMMY_WO_MUL = 7 / 3;
/** Static fp8 activation scale of dummy engines: an input amax of 16 (no calibration data). */
export const DUMMY_INPUT_AMAX = 16;

/** How a dummy weight is filled. `codes`: one byte per element (int4: two per byte, packed). */
export type DummyRule =
  | { readonly kind: 'normal'; readonly mean: number; readonly std: number }
  | { readonly kind: 'f32'; readonly value: number }
  | { readonly kind: 'byte'; readonly value: number }
  | { readonly kind: 'codes'; readonly format: 'fp8' | 'int8' | 'int4'; readonly mul: number };

/** The std of the float weight a quantized `<base>.<suffix>` replaces. */
const baseStd = (name: string): number => dummyInit(`${name.slice(0, name.lastIndexOf('.'))}.weight`).std;

/**
 * The fill of weight `name` of graph dtype `dtype` and rank `rank`: quantized codes for
 * `*.qweight`, std / mul for `*.weight_scale` (rank 1: fp8; rank 2: int8/int4 groups),
 * DUMMY_INPUT_AMAX / 448 for `*.input_scale`, 1 for `*.pre_scale`, 8 for `*.zeros`, else the normal.
 */
export function dummyRule(name: string, dtype: DType = 'float32', rank = 2): DummyRule {
  if (name.endsWith('.qweight')) {
    if (dtype === 'fp8e4m3') return { kind: 'codes', format: 'fp8', mul: DUMMY_FP8_MUL };
    return { kind: 'codes', format: dtype === 'int8' ? 'int8' : 'int4', mul: DUMMY_WO_MUL };
  }
  if (name.endsWith('.weight_scale')) return { kind: 'f32', value: Math.fround(baseStd(name) / (rank === 1 ? DUMMY_FP8_MUL : DUMMY_WO_MUL)) };
  if (name.endsWith('.input_scale')) return { kind: 'f32', value: Math.fround(DUMMY_INPUT_AMAX / 448) };
  if (name.endsWith('.pre_scale')) return { kind: 'f32', value: 1 };
  if (name.endsWith('.zeros') && dtype === 'uint8') return { kind: 'byte', value: 8 };
  return { kind: 'normal', ...dummyInit(name) };
}

/** The raw byte codes of a `codes` rule (n bytes; int4: byte i packs elements 2i and 2i + 1). */
export function dummyCodes(seed: number, name: string, n: number, rule: Extract<DummyRule, { kind: 'codes' }>): Uint8Array {
  const ts = tensorSeed(seed, name);
  const out = new Uint8Array(n);
  const int = (j: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, rne(normalAt(j, ts) * rule.mul)));
  for (let i = 0; i < n; i++) {
    if (rule.format === 'fp8') out[i] = f32ToFp8e4m3Bits(Math.fround(normalAt(i, ts) * rule.mul));
    else if (rule.format === 'int8') out[i] = int(i, -127, 127) & 0xff;
    else out[i] = (int(2 * i, -8, 7) + 8) | ((int(2 * i + 1, -8, 7) + 8) << 4);
  }
  return out;
}

/**
 * The `n` values of weight `name` as the CPU backend holds them (host side; the CPU backend's
 * fill): floats as float32; fp8 codes decoded; int8 codes as their signed values; uint8 as bytes.
 * `def` (graph dtype and shape) selects the quantized rules; without it every weight is a float.
 */
export function dummyValues(seed: number, name: string, n: number, def?: { readonly dtype: DType; readonly shape: readonly (number | string)[] }): Float32Array {
  const rule = def ? dummyRule(name, def.dtype, def.shape.length) : { kind: 'normal' as const, ...dummyInit(name) };
  const out = new Float32Array(n);
  switch (rule.kind) {
    case 'f32': case 'byte': return out.fill(rule.value);
    case 'codes': {
      const codes = dummyCodes(seed, name, n, rule);
      for (let i = 0; i < n; i++) out[i] = rule.format === 'fp8' ? fp8e4m3BitsToF32(codes[i]!) : rule.format === 'int8' ? (codes[i]! << 24) >> 24 : codes[i]!;
      return out;
    }
    case 'normal': {
      if (rule.std === 0) return out.fill(rule.mean);
      const ts = tensorSeed(seed, name);
      for (let i = 0; i < n; i++) {
        const u1 = uniform(2 * i, ts);
        const u2 = uniform(2 * i + 1, ts);
        out[i] = rule.mean + rule.std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      }
      return out;
    }
  }
}
