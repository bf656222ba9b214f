/**
 * The CPU GEMM: out[M, N] = a[M, K] · w[N, K]ᵀ (+ bias). Everything funnels into this
 * "transposeB" layout because each output is then a dot product of two contiguous rows.
 * Cache blocking: a panel of W rows (~L2 sized) is held while every group of 4 A rows
 * streams over it; each inner step computes a 4×4 tile of dot products (16 accumulators,
 * 8 loads per 16 multiply-adds, 4 rows of A and 4 of W walked contiguously). Long K is split
 * into blocks so a tile's rows stay in L1/L2.
 * Accumulation is in float64 locals, stored as float32 once per K block.
 */

const K_BLOCK = 2048;
const PANEL_BYTES = 256 * 1024;

/** out[M, N] = a[M, K] · w[N, K]ᵀ (+ bias[N]); `out` is overwritten. */
export function matmulTransB(
  a: Float32Array, w: Float32Array, out: Float32Array, m: number, k: number, n: number, bias?: Float32Array,
): void {
  if (bias) for (let i = 0; i < m; i++) out.set(bias.subarray(0, n), i * n);
  else out.fill(0, 0, m * n);
  const panel = Math.max(4, Math.floor(PANEL_BYTES / (4 * Math.min(k, K_BLOCK))) & ~3);
  for (let k0 = 0; k0 < k; k0 += K_BLOCK) {
    const k1 = Math.min(k, k0 + K_BLOCK);
    for (let n0 = 0; n0 < n; n0 += panel) {
      const n1 = Math.min(n, n0 + panel);
      let i = 0;
      for (; i + 4 <= m; i += 4) tile4(a, w, out, i, k, n, k0, k1, n0, n1);
      for (; i < m; i++) row1(a, w, out, i, k, n, k0, k1, n0, n1);
    }
  }
}

function tile4(
  a: Float32Array, w: Float32Array, out: Float32Array, i: number, k: number, n: number,
  k0: number, k1: number, n0: number, n1: number,
): void {
  const a0 = i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
  let j = n0;
  for (; j + 4 <= n1; j += 4) {
    const w0 = j * k, w1 = w0 + k, w2 = w1 + k, w3 = w2 + k;
    let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
    let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
    for (let p = k0; p < k1; p++) {
      const x0 = w[w0 + p]!, x1 = w[w1 + p]!, x2 = w[w2 + p]!, x3 = w[w3 + p]!;
      let y = a[a0 + p]!;
      s00 += y * x0; s01 += y * x1; s02 += y * x2; s03 += y * x3;
      y = a[a1 + p]!;
      s10 += y * x0; s11 += y * x1; s12 += y * x2; s13 += y * x3;
      y = a[a2 + p]!;
      s20 += y * x0; s21 += y * x1; s22 += y * x2; s23 += y * x3;
      y = a[a3 + p]!;
      s30 += y * x0; s31 += y * x1; s32 += y * x2; s33 += y * x3;
    }
    let o = i * n + j;
    out[o]! += s00; out[o + 1]! += s01; out[o + 2]! += s02; out[o + 3]! += s03;
    o += n;
    out[o]! += s10; out[o + 1]! += s11; out[o + 2]! += s12; out[o + 3]! += s13;
    o += n;
    out[o]! += s20; out[o + 1]! += s21; out[o + 2]! += s22; out[o + 3]! += s23;
    o += n;
    out[o]! += s30; out[o + 1]! += s31; out[o + 2]! += s32; out[o + 3]! += s33;
  }
  for (; j < n1; j++) {
    const w0 = j * k;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let p = k0; p < k1; p++) {
      const x = w[w0 + p]!;
      s0 += a[a0 + p]! * x; s1 += a[a1 + p]! * x; s2 += a[a2 + p]! * x; s3 += a[a3 + p]! * x;
    }
    const o = i * n + j;
    out[o]! += s0; out[o + n]! += s1; out[o + 2 * n]! += s2; out[o + 3 * n]! += s3;
  }
}

/** One A row against the panel, 4 W rows at a time (the decode path: M = 1). */
function row1(
  a: Float32Array, w: Float32Array, out: Float32Array, i: number, k: number, n: number,
  k0: number, k1: number, n0: number, n1: number,
): void {
  const a0 = i * k;
  let j = n0;
  for (; j + 4 <= n1; j += 4) {
    const w0 = j * k, w1 = w0 + k, w2 = w1 + k, w3 = w2 + k;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let p = k0; p < k1; p++) {
      const y = a[a0 + p]!;
      s0 += y * w[w0 + p]!; s1 += y * w[w1 + p]!; s2 += y * w[w2 + p]!; s3 += y * w[w3 + p]!;
    }
    const o = i * n + j;
    out[o]! += s0; out[o + 1]! += s1; out[o + 2]! += s2; out[o + 3]! += s3;
  }
  for (; j < n1; j++) {
    const w0 = j * k;
    let s = 0;
    for (let p = k0; p < k1; p++) s += a[a0 + p]! * w[w0 + p]!;
    out[i * n + j]! += s;
  }
}

/** [rows, cols] → [cols, rows], into a new array. */
export function transpose2d(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B) {
    for (let c0 = 0; c0 < cols; c0 += B) {
      const r1 = Math.min(rows, r0 + B), c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = x[r * cols + c]!;
    }
  }
  return out;
}
