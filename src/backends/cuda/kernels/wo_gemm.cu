// Weight-only INT8 / INT4 GEMMs (layouts: quant/types.ts; numerics: quant/numerics.ts).
//   wo_gemv_int{4,8}_m{1,2,4,8}: out[m, n] = Σ_k x[m, k] · pre[k] · (q[n, k] − z[n, g]) · s[n, g] for up to 8 rows.
//     The decode path, bandwidth-bound: a block owns WO_ROWS (4) output rows; each thread reads one 16-byte
//     chunk of packed weights per row (32 int4 or 16 int8 columns, inside one group), dequantizes it in
//     registers and keeps fp32 sums. Per chunk Σ (u − z)·s·x = s·(Σ u·x − z·Σ x), so the zero point costs
//     one FMA per chunk; x (with pre_scale folded in) is loaded once per chunk and reused by every row.
//     Codes become floats with the magic-number trick: float bits 0x4B000000 | u = 2^23 + u exactly.
//     Needs K % chunk == 0 and groupSize % chunk == 0 (the plan checks; otherwise it dequantizes).
//   wo_dequant_int{4,8}: w[n, k] = (q − z)·s·pre[k] as act_t [N, K], for larger M (then a bf16 GEMM).
// int4: byte (n, j) holds column 2j in its low nibble, 2j + 1 in its high nibble; z = zeros or 8.
// int8: signed, z = 0.
#define WO_ROWS 4
#define WO_THREADS 128
#define MAGIC 8388608.f

typedef unsigned char u8_t;

// Byte `i` (0..3) of w as the float 2^23 + byte.
__device__ __forceinline__ float byte_as_magic(uint32_t w, int i) {
  return __uint_as_float(__byte_perm(w, 0x4B000000u, 0x7540 + i));
}

// Σ_j (u_j + 2^23 − 2^23) · x_j over the 16-byte chunk's codes, in column order; two partial sums
// halve the dependent FMA chain.
template <int BITS>
__device__ __forceinline__ float dot_chunk(uint4 q, const float* xv) {
  const uint32_t w[4] = {q.x, q.y, q.z, q.w};
  float d0 = 0.f, d1 = 0.f;
#pragma unroll
  for (int j = 0; j < 4; j++) {
    if (BITS == 4) {
      const uint32_t lo = w[j] & 0x0F0F0F0Fu, hi = (w[j] >> 4) & 0x0F0F0F0Fu;
#pragma unroll
      for (int b = 0; b < 4; b++) {
        d0 = fmaf(byte_as_magic(lo, b) - MAGIC, xv[8 * j + 2 * b], d0);
        d1 = fmaf(byte_as_magic(hi, b) - MAGIC, xv[8 * j + 2 * b + 1], d1);
      }
    } else {
      const uint32_t v = w[j] ^ 0x80808080u;  // signed q → q + 128
#pragma unroll
      for (int b = 0; b < 4; b += 2) {
        d0 = fmaf(byte_as_magic(v, b) - MAGIC, xv[4 * j + b], d0);
        d1 = fmaf(byte_as_magic(v, b + 1) - MAGIC, xv[4 * j + b + 1], d1);
      }
    }
  }
  return d0 + d1;
}

// M: compile-time row capacity (1, 2, 4 or 8); m ≤ M rows are computed.
template <int BITS, int M>
__device__ __forceinline__ void wo_gemv(const act_t* __restrict__ x, int x_stride, int m, int n, int k,
    const u8_t* __restrict__ qw, const float* __restrict__ scales, const u8_t* __restrict__ zeros,
    const float* __restrict__ pre, int group, act_t* __restrict__ out, int out_stride) {
  constexpr int CHUNK = BITS == 4 ? 32 : 16;       // columns per 16-byte chunk
  constexpr float BIAS = BITS == 4 ? 0.f : 128.f;  // int8 codes were shifted by 128
  const int row0 = blockIdx.x * WO_ROWS;
  const int num_chunks = k / CHUNK, num_groups = (k + group - 1) / group;
  const size_t row_bytes = (size_t)k * BITS / 8;
  float acc[M][WO_ROWS];
#pragma unroll
  for (int i = 0; i < M; i++)
#pragma unroll
    for (int r = 0; r < WO_ROWS; r++) acc[i][r] = 0.f;
  for (int c = threadIdx.x; c < num_chunks; c += WO_THREADS) {
    uint4 q[WO_ROWS];
    float s[WO_ROWS], z[WO_ROWS];
    const int g = c * CHUNK / group;
#pragma unroll
    for (int r = 0; r < WO_ROWS; r++) {
      const int row = min(row0 + r, n - 1);
      q[r] = __ldg(reinterpret_cast<const uint4*>(qw + row * row_bytes) + c);
      s[r] = __ldg(scales + (size_t)row * num_groups + g);
      z[r] = (BITS == 4 ? (zeros != nullptr ? (float)__ldg(zeros + (size_t)row * num_groups + g) : 8.f) : 0.f) + BIAS;
    }
#pragma unroll
    for (int i = 0; i < M; i++) {
      if (i >= m) break;
      float xv[CHUNK];
#pragma unroll
      for (int j = 0; j < CHUNK; j += 8) load8_act(x + (size_t)i * x_stride + c * CHUNK + j, xv + j);
      if (pre != nullptr) {
#pragma unroll
        for (int j = 0; j < CHUNK; j++) xv[j] *= __ldg(pre + c * CHUNK + j);
      }
      float xs = 0.f;
#pragma unroll
      for (int j = 0; j < CHUNK; j++) xs += xv[j];
#pragma unroll
      for (int r = 0; r < WO_ROWS; r++) acc[i][r] = fmaf(s[r], fmaf(-z[r], xs, dot_chunk<BITS>(q[r], xv)), acc[i][r]);
    }
  }
  __shared__ float red[WO_THREADS / 32][M * WO_ROWS];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int i = 0; i < M; i++) {
#pragma unroll
    for (int r = 0; r < WO_ROWS; r++) {
      const float v = warp_sum(acc[i][r]);
      if (lane == 0) red[warp][i * WO_ROWS + r] = v;
    }
  }
  __syncthreads();
  for (int t = threadIdx.x; t < m * WO_ROWS; t += WO_THREADS) {
    const int i = t / WO_ROWS, r = t % WO_ROWS;
    if (row0 + r >= n) continue;
    float v = 0.f;
#pragma unroll
    for (int w = 0; w < WO_THREADS / 32; w++) v += red[w][t];
    out[(size_t)i * out_stride + row0 + r] = f32_to_act(v);
  }
}

// grid (ceil(N / WO_ROWS)), block WO_THREADS; entry _mM computes m ≤ M rows (M = 1, 2, 4, 8).
#define WO_GEMV_PARAMS const act_t* __restrict__ x, int x_stride, int m, int n, int k, const u8_t* __restrict__ qw, \
    const float* __restrict__ scales, const u8_t* __restrict__ zeros, const float* __restrict__ pre, int group,       \
    act_t* __restrict__ out, int out_stride
extern "C" __global__ void __launch_bounds__(WO_THREADS, 5) wo_gemv_int4_m1(WO_GEMV_PARAMS) {
  wo_gemv<4, 1>(x, x_stride, m, n, k, qw, scales, zeros, pre, group, out, out_stride);
}
extern "C" __global__ void __launch_bounds__(WO_THREADS) wo_gemv_int4_m2(WO_GEMV_PARAMS) {
  wo_gemv<4, 2>(x, x_stride, m, n, k, qw, scales, zeros, pre, group, out, out_stride);
}
extern "C" __global__ void __launch_bounds__(WO_THREADS) wo_gemv_int4_m4(WO_GEMV_PARAMS) {
  wo_gemv<4, 4>(x, x_stride, m, n, k, qw, scales, zeros, pre, group, out, out_stride);
}
extern "C" __global__ void __launch_bounds__(WO_THREADS) wo_gemv_int4_m8(WO_GEMV_PARAMS) {
  wo_gemv<4, 8>(x, x_stride, m, n, k, qw, scales, zeros, pre, group, out, out_stride);
}
extern "C" __global__ void __launch_bounds__(WO_THREADS, 6) wo_gemv_int8_m1(WO_GEMV_PARAMS) {
  wo_gemv<8, 1>(x, x_stride, m, n, k, qw, scales, zeros, pre, group, out, out_stride);
}
extern "C" __global__ void __launch_bounds__(WO_THREADS) wo_gemv_int8_m2(WO_GEMV_PARAMS) {
  wo_gemv<8, 2>(x, x_stride, m, n, k, qw, scales, zeros, pre, group, out, out_stride);
}
extern "C" __global__ void __launch_bounds__(WO_THREADS) wo_gemv_int8_m4(WO_GEMV_PARAMS) {
  wo_gemv<8, 4>(x, x_stride, m, n, k, qw, scales, zeros, pre, group, out, out_stride);
}
extern "C" __global__ void __launch_bounds__(WO_THREADS) wo_gemv_int8_m8(WO_GEMV_PARAMS) {
  wo_gemv<8, 8>(x, x_stride, m, n, k, qw, scales, zeros, pre, group, out, out_stride);
}

// grid (ceil(K / 256), N), block 256: one column per thread.
template <int BITS>
__device__ __forceinline__ void wo_dequant(const u8_t* __restrict__ qw, const float* __restrict__ scales,
    const u8_t* __restrict__ zeros, const float* __restrict__ pre, int k, int group, act_t* __restrict__ w) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= k) return;
  const int row = blockIdx.y;
  const int num_groups = (k + group - 1) / group, g = col / group;
  float q;
  if (BITS == 4) {
    const u8_t b = qw[(size_t)row * ((k + 1) / 2) + (col >> 1)];
    const float z = zeros != nullptr ? (float)zeros[(size_t)row * num_groups + g] : 8.f;
    q = (float)((col & 1) ? (b >> 4) : (b & 15)) - z;
  } else {
    q = (float)(signed char)qw[(size_t)row * k + col];
  }
  float v = q * scales[(size_t)row * num_groups + g];
  if (pre != nullptr) v *= pre[col];
  w[(size_t)row * k + col] = f32_to_act(v);
}

extern "C" __global__ void __launch_bounds__(256) wo_dequant_int4(const u8_t* __restrict__ qw, const float* __restrict__ scales,
    const u8_t* __restrict__ zeros, const float* __restrict__ pre, int k, int group, act_t* __restrict__ w) {
  wo_dequant<4>(qw, scales, zeros, pre, k, group, w);
}

extern "C" __global__ void __launch_bounds__(256) wo_dequant_int8(const u8_t* __restrict__ qw, const float* __restrict__ scales,
    const u8_t* __restrict__ zeros, const float* __restrict__ pre, int k, int group, act_t* __restrict__ w) {
  wo_dequant<8>(qw, scales, zeros, pre, k, group, w);
}
