/** Element-wise kernels: broadcast arithmetic, activations, softmax, cast, silu_mul. */
import { f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, f32ToFp8e4m3Bits, bf16BitsToF32, fp8e4m3BitsToF32 } from '../../../graph/dtype.js';
import type { DType } from '../../../graph/types.js';
import { around, stridesOf, type Buf, type CpuData } from '../buffer.js';

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div';

function apply(op: BinaryOp, x: number, y: number): number {
  switch (op) {
    case 'add': return x + y;
    case 'sub': return x - y;
    case 'mul': return x * y;
    case 'div': return x / y;
  }
}

/** Broadcast strides of `shape` inside `outShape` (0 where broadcast). */
function bcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const s = stridesOf(shape);
  const off = outShape.length - shape.length;
  return outShape.map((_, i) => (i < off || shape[i - off] === 1 ? 0 : s[i - off]!));
}

/** `out` = a op b with numpy broadcasting into `outShape` (int32 results truncate). */
export function binary(op: BinaryOp, a: Buf, b: Buf, out: CpuData, outShape: readonly number[]): void {
  const n = out.length;
  const ad = a.data, bd = b.data;
  if (ad.length === n && bd.length === n) {
    for (let i = 0; i < n; i++) out[i] = apply(op, ad[i]!, bd[i]!);
  } else if (ad.length === n && n % bd.length === 0 && sameSuffix(b.shape, outShape)) {
    const m = bd.length; // b repeats along the leading dims (bias, weight rows)
    for (let i = 0; i < n; i++) out[i] = apply(op, ad[i]!, bd[i % m]!);
  } else {
    generalBinary(op, a, b, out, outShape);
  }
}

function sameSuffix(s: readonly number[], out: readonly number[]): boolean {
  const off = out.length - s.length;
  let seenNonOne = false;
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== 1) seenNonOne = true;
    if (seenNonOne && s[i] !== out[i + off]) return false;
  }
  return true;
}

function generalBinary(op: BinaryOp, a: Buf, b: Buf, out: CpuData, outShape: readonly number[]): void {
  const sa = bcastStrides(a.shape, outShape), sb = bcastStrides(b.shape, outShape);
  const rank = outShape.length;
  const idx = new Array<number>(rank).fill(0);
  let ia = 0, ib = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = apply(op, a.data[ia]!, b.data[ib]!);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      ia += sa[d]!; ib += sb[d]!;
      if (idx[d]! < outShape[d]!) break;
      ia -= sa[d]! * outShape[d]!; ib -= sb[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
}

/** erf with |error| < 1.2e-7 (Numerical Recipes erfc, Chebyshev fit), enough for float32 GELU. */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - r : r - 1;
}

export type Activation = 'none' | 'relu' | 'gelu' | 'silu';

export const gelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));
export const silu = (x: number): number => x / (1 + Math.exp(-x));

/** Applies `act` in place. */
export function activate(act: Activation, x: Float32Array): void {
  const n = x.length;
  if (act === 'relu') for (let i = 0; i < n; i++) x[i] = Math.max(0, x[i]!);
  else if (act === 'gelu') for (let i = 0; i < n; i++) x[i] = gelu(x[i]!);
  else if (act === 'silu') for (let i = 0; i < n; i++) x[i] = silu(x[i]!);
}

/** Softmax along `axis` with max subtraction. */
export function softmax(x: Float32Array, out: Float32Array, shape: readonly number[], axis: number): void {
  const { outer, dim, inner } = around(shape, axis);
  for (let o = 0; o < outer; o++) {
    for (let r = 0; r < inner; r++) {
      const base = o * dim * inner + r;
      let max = -Infinity;
      for (let d = 0; d < dim; d++) max = Math.max(max, x[base + d * inner]!);
      let sum = 0;
      for (let d = 0; d < dim; d++) {
        const e = Math.exp(x[base + d * inner]! - max);
        out[base + d * inner] = e;
        sum += e;
      }
      for (let d = 0; d < dim; d++) out[base + d * inner]! /= sum;
    }
  }
}

/** silu(x[.., :I]) · x[.., I:] for x [.., 2I]. */
export function siluMul(x: Float32Array, out: Float32Array, rows: number, inter: number): void {
  for (let r = 0; r < rows; r++) {
    const xi = r * 2 * inter, oi = r * inter;
    for (let j = 0; j < inter; j++) out[oi + j] = silu(x[xi + j]!) * x[xi + inter + j]!;
  }
}

/** Cast into float32 storage (rounded to the target float format) or int32 (truncation, as torch). */
export function cast(x: CpuData, to: DType): CpuData {
  const n = x.length;
  if (to === 'int32' || to === 'int8' || to === 'uint8') {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.trunc(x[i]!);
    return out;
  }
  const out = Float32Array.from(x);
  const round = to === 'float16' ? (v: number) => f16BitsToF32(f32ToF16Bits(v))
    : to === 'bfloat16' ? (v: number) => bf16BitsToF32(f32ToBf16Bits(v))
      : to === 'fp8e4m3' ? (v: number) => fp8e4m3BitsToF32(f32ToFp8e4m3Bits(v)) : undefined;
  if (round) for (let i = 0; i < n; i++) out[i] = round(out[i]!);
  return out;
}
