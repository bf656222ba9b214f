/**
 * Element sizes and exact conversions between float32 and the 16/8-bit float formats.
 * Rounding is round-to-nearest-even everywhere (as torch's `.to()` does), so the CPU
 * reference and the CUDA kernels agree bit for bit on stored values.
 */
import type { DType } from './types.js';

const BYTES: Record<DType, number> = {
  float32: 4, float16: 2, bfloat16: 2, fp8e4m3: 1, int32: 4, int8: 1, uint8: 1,
};

/** Bytes one element of `dtype` occupies. */
export function bytesPerElement(dtype: DType): number {
  return BYTES[dtype];
}

export function isFloatDType(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16' || dtype === 'fp8e4m3';
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function bf16BitsToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

export function f32ToBf16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x007fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff; // NaN stays NaN
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

// float16 <-> float32 via lookup of the exponent cases (IEEE 754 binary16).
export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

export function f32ToF16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (m & 1))) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (m & 1))) {
    m++;
    if (m === 0x400) { m = 0; e++; if (e >= 0x1f) return sign | 0x7c00; }
  }
  return sign | (e << 10) | m;
}

/** FP8 E4M3 (OCP "fn" variant: no infinities, 0x7f/0xff are NaN, max 448). */
export function fp8e4m3BitsToF32(bits: number): number {
  const sign = bits & 0x80 ? -1 : 1;
  const exp = (bits >> 3) & 0xf;
  const frac = bits & 0x7;
  if (exp === 0xf && frac === 0x7) return NaN;
  if (exp === 0) return sign * frac * 2 ** -9;
  return sign * (1 + frac / 8) * 2 ** (exp - 7);
}

let fp8Table: Float32Array | undefined;
function fp8Values(): Float32Array {
  if (!fp8Table) {
    fp8Table = new Float32Array(256);
    for (let i = 0; i < 256; i++) fp8Table[i] = fp8e4m3BitsToF32(i);
  }
  return fp8Table;
}

/** Saturating conversion to E4M3 with round-to-nearest-even (as `torch.float8_e4m3fn` casts). */
export function f32ToFp8e4m3Bits(value: number): number {
  if (Number.isNaN(value)) return 0x7f;
  const sign = value < 0 || Object.is(value, -0) ? 0x80 : 0;
  const a = Math.min(Math.abs(value), 448);
  const table = fp8Values();
  // Positive codes 0..0x7e are monotonic: binary search the nearest, ties to even code.
  let lo = 0;
  let hi = 0x7e;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (table[mid]! <= a) lo = mid; else hi = mid;
  }
  const dLo = a - table[lo]!;
  const dHi = table[hi]! - a;
  const code = dLo < dHi ? lo : dHi < dLo ? hi : (lo & 1 ? hi : lo);
  return sign | code;
}

/** Decodes a stored buffer of `dtype` into float32 (a new array). */
export function toFloat32(dtype: DType, data: ArrayLike<number>): Float32Array {
  const n = data.length;
  const out = new Float32Array(n);
  switch (dtype) {
    case 'bfloat16': for (let i = 0; i < n; i++) out[i] = bf16BitsToF32(data[i]!); break;
    case 'float16': for (let i = 0; i < n; i++) out[i] = f16BitsToF32(data[i]!); break;
    case 'fp8e4m3': { const t = fp8Values(); for (let i = 0; i < n; i++) out[i] = t[data[i]! & 0xff]!; break; }
    default: for (let i = 0; i < n; i++) out[i] = data[i]!;
  }
  return out;
}

/** Encodes float32 values as `dtype` (bf16/f16 as Uint16Array bits, fp8 as Uint8Array bits). */
export function fromFloat32(dtype: DType, data: Float32Array): Float32Array | Uint16Array | Uint8Array | Int32Array {
  const n = data.length;
  switch (dtype) {
    case 'float32': return data;
    case 'bfloat16': { const o = new Uint16Array(n); for (let i = 0; i < n; i++) o[i] = f32ToBf16Bits(data[i]!); return o; }
    case 'float16': { const o = new Uint16Array(n); for (let i = 0; i < n; i++) o[i] = f32ToF16Bits(data[i]!); return o; }
    case 'fp8e4m3': { const o = new Uint8Array(n); for (let i = 0; i < n; i++) o[i] = f32ToFp8e4m3Bits(data[i]!); return o; }
    case 'int32': return Int32Array.from(data, (v) => Math.round(v));
    default: throw new Error(`fromFloat32: cannot encode to ${dtype}`);
  }
}
