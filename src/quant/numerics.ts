/**
 * The quantized formats' numerics, shared by the builder (offline quantization), the checkpoint
 * importers and the CPU kernels. Every rounding is round-to-nearest-even (RNE), so the CUDA
 * kernels can reproduce the CPU reference bit for bit on stored values.
 *
 * FP8 E4M3 (W8A8). Weight scale s = amax / 448 (float32), per tensor ([1]) or per output
 * channel ([N]); code = fp8_rne(w / s) (saturating, graph/dtype.ts); w ≈ fp8(code) · s.
 * Activations: x ≈ fp8_rne(fround(x / a)) · a, with a static per-GEMM scale (calibrated
 * amax / 448) or a dynamic per-token scale (row amax / 448, 1 for an all-zero row).
 *
 * INT8 / INT4 weight-only, group-wise along K (the input dim), symmetric: for each output row n
 * and group g (columns g·G … min(K, (g+1)·G) − 1; the last group may be shorter)
 *   int8: s = amax / 127, q = clamp(rne(w / s), −127, 127), stored int8 [N, K];
 *   int4: s = amax / 7,   q = clamp(rne(w / s), −8, 7), stored as the unsigned nibble
 *         u = q + 8 (zero point 8), packed two per byte: byte (n, j) of the uint8 [N, ceil(K/2)]
 *         tensor holds column 2j in its low nibble and column 2j + 1 in its high nibble.
 * Dequantization: w = q · s (int8), w = (u − z) · s (int4; z = 8 unless a zeros tensor
 * uint8 [N, numGroups] is given, as asymmetric AWQ/GPTQ checkpoints need). An all-zero group
 * gets s = 1. Scales are float32 [N, numGroups].
 */
import { f32ToFp8e4m3Bits, fp8e4m3BitsToF32 } from '../graph/dtype.js';

export const FP8_MAX = 448;

/** Round half to even (the IEEE default), for values of any magnitude. */
export function rne(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

function scaleFor(amax: number, qmax: number): number {
  return amax > 0 ? Math.fround(amax / qmax) : 1;
}

export interface Fp8Weight {
  /** fp8 e4m3 codes, [N, K] row-major. */
  readonly codes: Uint8Array;
  /** [1] (per tensor) or [N] (per channel). */
  readonly scales: Float32Array;
}

/** FP8 weight quantization of w [N, K] (see the file comment). */
export function quantizeFp8Weight(w: Float32Array, n: number, k: number, perChannel: boolean): Fp8Weight {
  const scales = new Float32Array(perChannel ? n : 1);
  if (perChannel) {
    for (let r = 0; r < n; r++) scales[r] = scaleFor(amaxOf(w, r * k, (r + 1) * k), FP8_MAX);
  } else {
    scales[0] = scaleFor(amaxOf(w, 0, n * k), FP8_MAX);
  }
  const codes = new Uint8Array(n * k);
  for (let r = 0; r < n; r++) {
    const s = scales[perChannel ? r : 0]!;
    for (let c = 0; c < k; c++) codes[r * k + c] = f32ToFp8e4m3Bits(w[r * k + c]! / s);
  }
  return { codes, scales };
}

/** w [N, K] from fp8 codes and per-tensor/per-channel scales. */
export function dequantizeFp8Weight(codes: ArrayLike<number>, scales: ArrayLike<number>, n: number, k: number): Float32Array {
  const out = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    const s = scales.length === 1 ? scales[0]! : scales[r]!;
    for (let c = 0; c < k; c++) out[r * k + c] = fp8e4m3BitsToF32(codes[r * k + c]!) * s;
  }
  return out;
}

/** Quantize-dequantize of one activation value with scale `a` (the FP8 GEMM's input path). */
export function fp8QuantDequant(x: number, a: number): number {
  return fp8e4m3BitsToF32(f32ToFp8e4m3Bits(Math.fround(x / a))) * a;
}

/** Scale of an activation whose absolute maximum is `amax` (1 when amax is 0). */
export function fp8ActivationScale(amax: number): number {
  return scaleFor(amax, FP8_MAX);
}

export function amaxOf(x: ArrayLike<number>, from = 0, to = x.length): number {
  let m = 0;
  for (let i = from; i < to; i++) {
    const a = Math.abs(x[i]!);
    if (a > m) m = a;
  }
  return m;
}

export type WoBits = 4 | 8;

export function numGroups(k: number, groupSize: number): number {
  return Math.ceil(k / groupSize);
}

/** A weight-only quantized [N, K] weight. */
export interface WoWeight {
  readonly bits: WoBits;
  readonly groupSize: number;
  /** int8: Int8Array [N, K]; int4: Uint8Array [N, ceil(K/2)] of packed nibbles. */
  readonly qweight: Int8Array | Uint8Array;
  /** float32 [N, numGroups]. */
  readonly scales: Float32Array;
}

/** Symmetric group-wise quantization of w [N, K] (see the file comment). */
export function quantizeWo(w: Float32Array, n: number, k: number, bits: WoBits, groupSize: number): WoWeight {
  const g = numGroups(k, groupSize);
  const qmax = bits === 8 ? 127 : 7;
  const qmin = bits === 8 ? -127 : -8;
  const scales = new Float32Array(n * g);
  const q = new Int8Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let gi = 0; gi < g; gi++) {
      const c0 = gi * groupSize, c1 = Math.min(k, c0 + groupSize);
      const s = scaleFor(amaxOf(w, r * k + c0, r * k + c1), qmax);
      scales[r * g + gi] = s;
      for (let c = c0; c < c1; c++) q[r * k + c] = Math.min(qmax, Math.max(qmin, rne(w[r * k + c]! / s)));
    }
  }
  return { bits, groupSize, qweight: bits === 8 ? q : packInt4(q, n, k), scales };
}

/** Signed int4 values q [N, K] → packed unsigned nibbles u = q + 8, [N, ceil(K/2)]. */
export function packInt4(q: Int8Array, n: number, k: number): Uint8Array {
  const half = Math.ceil(k / 2);
  const out = new Uint8Array(n * half);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const u = (q[r * k + c]! + 8) & 0xf;
      out[r * half + (c >> 1)]! |= c & 1 ? u << 4 : u;
    }
  }
  return out;
}

/** Packed nibbles [N, ceil(K/2)] → unsigned codes u [N, K] (0..15). */
export function unpackInt4(packed: ArrayLike<number>, n: number, k: number): Uint8Array {
  const half = Math.ceil(k / 2);
  const out = new Uint8Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const b = packed[r * half + (c >> 1)]!;
      out[r * k + c] = c & 1 ? (b >> 4) & 0xf : b & 0xf;
    }
  }
  return out;
}

/** Unsigned codes u [N, K] (0..15) → packed [N, ceil(K/2)]. */
export function packNibbles(u: ArrayLike<number>, n: number, k: number): Uint8Array {
  const half = Math.ceil(k / 2);
  const out = new Uint8Array(n * half);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) out[r * half + (c >> 1)]! |= c & 1 ? (u[r * k + c]! & 0xf) << 4 : u[r * k + c]! & 0xf;
  }
  return out;
}

export interface WoDequantInput {
  readonly bits: WoBits;
  readonly groupSize: number;
  readonly n: number;
  readonly k: number;
  readonly qweight: ArrayLike<number>;
  readonly scales: ArrayLike<number>;
  /** int4 only: zero points uint8 [N, numGroups]; default 8. */
  readonly zeros?: ArrayLike<number>;
}

/** w [N, K] float32 from a weight-only quantized weight. */
export function dequantizeWo(d: WoDequantInput): Float32Array {
  const { n, k, groupSize } = d;
  const g = numGroups(k, groupSize);
  const codes = d.bits === 4 ? unpackInt4(d.qweight, n, k) : d.qweight;
  const out = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const gi = r * g + Math.floor(c / groupSize);
      const zero = d.bits === 4 ? (d.zeros ? d.zeros[gi]! : 8) : 0;
      out[r * k + c] = (codes[r * k + c]! - zero) * d.scales[gi]!;
    }
  }
  return out;
}
