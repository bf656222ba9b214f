/**
 * AWQ-style activation-aware scaling (Lin et al., 2023; AutoAWQ's grid search). For a Linear
 * W [N, K] with calibration inputs X [R, K]: a_k = mean_r |X_rk|; for α ∈ {0, 0.1, …, 1},
 * s = a^α (clamped ≥ 1e-4) normalized by sqrt(max s · min s); the weight is quantized as
 * Q(W·diag(s)) and the input is scaled by 1/s, and the α with the least mean squared error of
 * the layer output X·Wᵀ on the calibration rows wins. α = 0 is plain quantization, so the chosen
 * scales are never worse than none on the calibration data.
 *
 * Kiln keeps 1/s as a runtime input scale (`<base>.pre_scale`, multiplied into the GEMM input)
 * rather than folding it into the preceding RMSNorm weight: it works for every Linear (o_proj
 * and down_proj have no norm in front), each Linear gets its own s (q/k/v need not share one),
 * and a GPU kernel applies it for free while loading x.
 */
import { matmulTransB } from '../backends/cpu/kernels/matmul.js';
import { dequantizeWo, quantizeWo, type WoBits } from './numerics.js';

export interface AwqResult {
  /** s [K]: the weight is quantized as W·diag(s), the input multiplied by 1/s. */
  readonly scales: Float32Array;
  readonly alpha: number;
  /** Output MSE at α = 0 (plain) and at the chosen α. */
  readonly plainError: number;
  readonly error: number;
}

export const AWQ_ALPHAS = Array.from({ length: 11 }, (_, i) => i / 10);

function outputError(x: Float32Array, r: number, k: number, n: number, ref: Float32Array, w: Float32Array, s: Float32Array, bits: WoBits, groupSize: number): number {
  const ws = Float32Array.from(w, (v, i) => v * s[i % k]!);
  const q = quantizeWo(ws, n, k, bits, groupSize);
  const deq = dequantizeWo({ bits, groupSize, n, k, qweight: q.qweight, scales: q.scales });
  const xs = Float32Array.from(x, (v, i) => v / s[i % k]!);
  const out = new Float32Array(r * n);
  matmulTransB(xs, deq, out, r, k, n);
  let e = 0;
  for (let i = 0; i < out.length; i++) e += (out[i]! - ref[i]!) ** 2;
  return e / out.length;
}

function scalesFor(meanAbs: Float32Array, alpha: number): Float32Array {
  const s = Float32Array.from(meanAbs, (a) => Math.max(a ** alpha, 1e-4));
  let max = 0, min = Infinity;
  for (const v of s) { max = Math.max(max, v); min = Math.min(min, v); }
  const norm = Math.sqrt(max * min);
  return s.map((v) => v / norm);
}

/** Grid search of α for W [N, K] over calibration rows X [R, K]. */
export function searchAwqScales(w: Float32Array, n: number, k: number, x: Float32Array, r: number, bits: WoBits, groupSize: number): AwqResult {
  const meanAbs = new Float32Array(k);
  for (let i = 0; i < r * k; i++) meanAbs[i % k]! += Math.abs(x[i]!) / r;
  const ref = new Float32Array(r * n);
  matmulTransB(x, w, ref, r, k, n);
  let best: AwqResult | undefined;
  let plainError = 0;
  for (const alpha of AWQ_ALPHAS) {
    const s = scalesFor(meanAbs, alpha);
    const error = outputError(x, r, k, n, ref, w, s, bits, groupSize);
    if (alpha === 0) plainError = error;
    if (!best || error < best.error) best = { scales: s, alpha, plainError, error };
  }
  return { ...best!, plainError };
}
