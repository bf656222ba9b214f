/** Normalization kernels over the last dim: rmsnorm, layernorm, add_rmsnorm. */

/** out = x / sqrt(mean(x²) + eps) · weight, per row of `h` elements. */
export function rmsnorm(x: Float32Array, weight: Float32Array, out: Float32Array, h: number, eps: number): void {
  const rows = x.length / h;
  for (let r = 0; r < rows; r++) {
    const base = r * h;
    let ss = 0;
    for (let j = 0; j < h; j++) ss += x[base + j]! * x[base + j]!;
    const inv = 1 / Math.sqrt(ss / h + eps);
    for (let j = 0; j < h; j++) out[base + j] = x[base + j]! * inv * weight[j]!;
  }
}

/** out = (x − mean) / sqrt(var + eps) · weight (+ bias), biased variance as torch. */
export function layernorm(
  x: Float32Array, weight: Float32Array, bias: Float32Array | undefined, out: Float32Array, h: number, eps: number,
): void {
  const rows = x.length / h;
  for (let r = 0; r < rows; r++) {
    const base = r * h;
    let sum = 0;
    for (let j = 0; j < h; j++) sum += x[base + j]!;
    const mean = sum / h;
    let v = 0;
    for (let j = 0; j < h; j++) v += (x[base + j]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / h + eps);
    for (let j = 0; j < h; j++) out[base + j] = (x[base + j]! - mean) * inv * weight[j]! + (bias ? bias[j]! : 0);
  }
}

/** sum = x + residual (stored as float32, as the next layer reads it); normed = rmsnorm(sum). */
export function addRmsnorm(
  x: Float32Array, residual: Float32Array, weight: Float32Array, normed: Float32Array, sum: Float32Array, h: number, eps: number,
): void {
  for (let i = 0; i < x.length; i++) sum[i] = x[i]! + residual[i]!;
  rmsnorm(sum, weight, normed, h, eps);
}
