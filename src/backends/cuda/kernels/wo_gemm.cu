// Weight-only INT8 / INT4 GEMMs (layouts: quant/types.ts; numerics: quant/numerics.ts).
//   wo_gemv_int{4,8}_m{1,2,4,8}: out[m, n] = Σ_k x[m, k] · pre[k] · (q[n, k] − z[n, g]) · s[n, g] for up to 8 rows.
//     The decode path, bandwidth-bound: a block owns WO_ROWS (4) output rows; each thread reads one 16-byte
//     chunk of packed weights per row (32 int4 or 16 int8 columns, inside one group), dequantizes it in
//     registers and keeps fp32 sums. Per chunk Σ (u − z)·s·x = s·(Σ u·x − z·Σ x), so the zero point costs
//     one FMA per chunk; x (with pre_scale folded in) is loaded once per chunk and reused by every row.
//     Codes become floats with the magic-number trick: float bits 0x4B000000 | u = 2^23 + u exactly.
//     Needs K % chunk == 0 and groupSize % chunk == 0 (the plan checks; otherwise it dequantizes).
//   wo_gemv_int4_mma: the same for int4 on tensor cores, any m ≤ 8 (below); int4 runs it by default,
//     wo_gemv_int4_m* stay as the fallback and the A/B reference.
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

// ---- wo_gemv_int4_mma: the int4 GEMV on tensor cores (m ≤ 8 rows; the default for int4) ----
// A block owns TC_ROWS (16) output rows, one mma.m16n8k16 row tile; its TC_WARPS warps split K into
// slices of 32 W columns (W = 4: 128, W = 2: 64). Per slice each lane (gid = lane / 4, tig = lane % 4)
// reads W words (8 W columns, inside one group) of rows gid and gid + 8 and, when gid < m, the same
// columns of x row gid: the 8 MMA columns are the (up to 8) activation rows, so m = 1..8 cost the
// same. The K order inside an MMA is free as long as A and B agree: MMA (j, h) of a slice takes
// nibbles (t, t + 4) and (t + 1, t + 5), t = 2h, of the lane's word j, which one SHF + LOP3 turns into
// a 16-bit pair MAGIC + u (bf16 0x4300 | u = 128 + u, fp16 0x6400 | u = 1024 + u), and one PRMT gives
// B the matching pair of x. Products and sums are fp32 in the tensor core.
//   group % 128 == 0 (W = 4) or group % 64 == 0 (W = 2), a slice inside one group: A = MAGIC + u
//     exactly and each slice's sums are scaled in fp32, c += s · (Σ (MAGIC + u)·x − (MAGIC + z)·Σ x),
//     Σ x from one more MMA per data MMA with A = 1: per 16 weight bytes of a lane 12 SHF + 16 LOP3 +
//     8 PRMT + 8 MMA + loads, no FP32 work per weight.
//   group 32 (W = 4): A = ((MAGIC + u) − (MAGIC + z)) · s, two packed FMAs per pair, the product
//     rounded to act_t as wo_dequant's weight is.
// pre_scale is folded into x (rounded to act_t, as wo_dequant folds it into the weight). Needs
// K % 128 == 0 and group % 32 == 0 (quant-ops.ts falls back to wo_gemv_int4_m* otherwise, or with
// KILN_WO_GEMV_INT4=fma).
#define TC_ROWS 16
#define TC_WARPS 8
#if ACT_F16
#define TC_MAGIC2 0x64006400u
#define TC_MAGIC 1024.f
#else
#define TC_MAGIC2 0x43004300u
#define TC_MAGIC 128.f
#endif

// (hi, lo) → packed act_t pair with one cvt (RNE).
__device__ __forceinline__ uint32_t tc_pack2(float lo, float hi) {
  uint32_t r;
#if ACT_F16
  asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
#else
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
#endif
  return r;
}

// Packed a · b + c in act_t (fma.rn.{bf16,f16}x2).
__device__ __forceinline__ uint32_t tc_fma2(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t r;
#if ACT_F16
  asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c));
#else
  asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c));
#endif
  return r;
}

__device__ __forceinline__ void tc_mma(float* c, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0, uint32_t b1) {
#if ACT_F16
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
#else
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
#endif
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]) : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Nibbles t (low half) and t + 4 (high half) of w as the exact pair MAGIC + u (one SHF + LOP3).
__device__ __forceinline__ uint32_t tc_nib(uint32_t w, int t) { return ((w >> (4 * t)) & 0x000F000Fu) | TC_MAGIC2; }

// The same pair dequantized: (MAGIC + u − (MAGIC + z)) (exact) · s (rounded to act_t).
__device__ __forceinline__ uint32_t tc_deq(uint32_t w, int t, uint32_t neg_z2, uint32_t s2) {
  const uint32_t one2 = ACT_F16 ? 0x3C003C00u : 0x3F803F80u, neg0 = 0x80008000u;
  return tc_fma2(tc_fma2(tc_nib(w, t), one2, neg_z2), s2, neg0);
}

// One slice's weights of one lane: rows gid and gid + 8 (q0, q1: W words each; scale, zero). x is read
// when the slice is computed (every block reads it: L1/L2 hits), which keeps the prefetch at 12 registers.
struct TcSlice {
  uint4 q0, q1;
  float s0, s1, z0, z1;
};

// What one lane reads: rows gid and gid + 8 of the weight (w0, w1: index of its W-word piece in slice 0,
// in units of W words) and their scales and zeros (s0, s1: index of group 0; zeros null: 8), x row gid
// at column col (xoff: element index, when has_x). 32-bit offsets from the kernel's pointers keep
// registers low.
struct TcLane {
  const u8_t* qw;
  const float *scales, *pre;
  const u8_t* zeros;
  const act_t* x;
  int w0, w1, s0, s1, xoff, col, gshift, group;  // col = 8 W · tig; gshift = log2(group) for a power of two, else -1
  bool has_x;
};

template <int W>
__device__ __forceinline__ uint4 tc_load_w(const u8_t* qw, int index) {
  if (W == 4) return __ldg(reinterpret_cast<const uint4*>(qw) + index);
  const uint2 v = __ldg(reinterpret_cast<const uint2*>(qw) + index);
  return make_uint4(v.x, v.y, 0u, 0u);
}

template <int W>
__device__ __forceinline__ void tc_load(TcSlice& t, const TcLane& l, int slice) {
  t.q0 = tc_load_w<W>(l.qw, l.w0 + 4 * slice);
  t.q1 = tc_load_w<W>(l.qw, l.w1 + 4 * slice);
  const int col = slice * 32 * W + l.col, g = l.gshift >= 0 ? col >> l.gshift : col / l.group;
  t.s0 = __ldg(l.scales + l.s0 + g);
  t.s1 = __ldg(l.scales + l.s1 + g);
  t.z0 = l.zeros != nullptr ? (float)__ldg(l.zeros + l.s0 + g) : 8.f;
  t.z1 = l.zeros != nullptr ? (float)__ldg(l.zeros + l.s1 + g) : 8.f;
}

// This lane's 8 W columns of x row gid (B is 0 when !has_x) as 4 W packed pairs, pre_scale folded in.
template <int W>
__device__ __forceinline__ void tc_load_x(uint32_t* xw, const act_t* xp, bool has_x, const float* pre, int col0) {
#pragma unroll
  for (int i = 0; i < W; i++) {
    const uint4 v = has_x ? __ldg(reinterpret_cast<const uint4*>(xp) + i) : make_uint4(0u, 0u, 0u, 0u);
    xw[4 * i] = v.x; xw[4 * i + 1] = v.y; xw[4 * i + 2] = v.z; xw[4 * i + 3] = v.w;
  }
  if (pre != nullptr) {
#pragma unroll
    for (int p = 0; p < 4 * W; p++) {
      const float2 v = unpack_act2(xw[p]), f = __ldg(reinterpret_cast<const float2*>(pre + col0) + p);
      xw[p] = tc_pack2(v.x * f.x, v.y * f.y);
    }
  }
}

// The slice's MMAs into c (rows gid, gid + 8 × activation rows 2 tig, 2 tig + 1); a slice is 32 W columns.
// EXACT (the slice inside one group: W = 4 for group % 128 == 0, W = 2 for group % 64 == 0): A is the
//   exact MAGIC + u and the slice's sums are scaled in fp32, c += s · (Σ (MAGIC + u)·x − (MAGIC + z)·Σ x),
//   Σ x from one more MMA per data MMA with A = 1 (fp32 cancellation of MAGIC + u against MAGIC + z
//   costs ~5 bits (bf16) or ~8 bits (fp16) of the tensor core's fp32 sums).
// else (group 32, W = 4): A = (u − z) · s rounded to act_t in registers, as wo_dequant does.
template <int W, bool EXACT>
__device__ __forceinline__ void tc_compute(const TcSlice& t, float* c, const act_t* xp, bool has_x, const float* pre, int col0) {
  uint32_t xw[4 * W];
  tc_load_x<W>(xw, xp, has_x, pre, col0);
  const uint32_t one2 = ACT_F16 ? 0x3C003C00u : 0x3F803F80u;
  const uint32_t s0 = tc_pack2(t.s0, t.s0), s1 = tc_pack2(t.s1, t.s1);
  const uint32_t nz0 = tc_pack2(-(TC_MAGIC + t.z0), -(TC_MAGIC + t.z0)), nz1 = tc_pack2(-(TC_MAGIC + t.z1), -(TC_MAGIC + t.z1));
  const uint32_t w0[4] = {t.q0.x, t.q0.y, t.q0.z, t.q0.w}, w1[4] = {t.q1.x, t.q1.y, t.q1.z, t.q1.w};
  float cs[4] = {0.f, 0.f, 0.f, 0.f}, co[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
  for (int j = 0; j < W; j++) {
    // x pairs (8j + u, 8j + u + 4) for u = 0..3, matching the nibble pairs of tc_nib.
    const uint32_t b[4] = {__byte_perm(xw[4 * j], xw[4 * j + 2], 0x5410), __byte_perm(xw[4 * j], xw[4 * j + 2], 0x7632),
                           __byte_perm(xw[4 * j + 1], xw[4 * j + 3], 0x5410), __byte_perm(xw[4 * j + 1], xw[4 * j + 3], 0x7632)};
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int u = 2 * h;
      if (EXACT) {
        tc_mma(cs, tc_nib(w0[j], u), tc_nib(w1[j], u), tc_nib(w0[j], u + 1), tc_nib(w1[j], u + 1), b[u], b[u + 1]);
        tc_mma(co, one2, one2, one2, one2, b[u], b[u + 1]);
      } else {
        tc_mma(c, tc_deq(w0[j], u, nz0, s0), tc_deq(w1[j], u, nz1, s1), tc_deq(w0[j], u + 1, nz0, s0), tc_deq(w1[j], u + 1, nz1, s1), b[u], b[u + 1]);
      }
    }
  }
  if (EXACT) {
    const float mz0 = TC_MAGIC + t.z0, mz1 = TC_MAGIC + t.z1;
    c[0] = fmaf(t.s0, fmaf(-mz0, co[0], cs[0]), c[0]);
    c[1] = fmaf(t.s0, fmaf(-mz0, co[1], cs[1]), c[1]);
    c[2] = fmaf(t.s1, fmaf(-mz1, co[2], cs[2]), c[2]);
    c[3] = fmaf(t.s1, fmaf(-mz1, co[3], cs[3]), c[3]);
  }
}

// The slice loop of one warp (slices warp, warp + TC_WARPS, ...), the next slice's weights prefetched.
template <int W, bool EXACT>
__device__ __forceinline__ void tc_slices(float* c, TcLane l, int warp, int k, int gid, int tig, int x_stride) {
  const int chunks = k / (8 * W);  // W-word pieces per row
  l.w0 = l.w0 * chunks + tig;       // w0 / w1 come in as row indices
  l.w1 = l.w1 * chunks + tig;
  l.col = 8 * W * tig;
  l.xoff = (l.has_x ? gid : 0) * x_stride + l.col;
  const int num_slices = k / (32 * W);
  TcSlice cur;
  int slice = warp;
  if (slice < num_slices) tc_load<W>(cur, l, slice);
  for (; slice < num_slices; slice += TC_WARPS) {
    TcSlice nxt = cur;
    if (slice + TC_WARPS < num_slices) tc_load<W>(nxt, l, slice + TC_WARPS);
    tc_compute<W, EXACT>(cur, c, l.x + l.xoff + slice * 32 * W, l.has_x, l.pre, slice * 32 * W + l.col);
    cur = nxt;
  }
}

// grid (ceil(N / TC_ROWS)), block TC_WARPS · 32; computes m ≤ 8 rows.
extern "C" __global__ void __launch_bounds__(TC_WARPS * 32) wo_gemv_int4_mma(WO_GEMV_PARAMS) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, gid = lane >> 2, tig = lane & 3;
  const int row0 = blockIdx.x * TC_ROWS, num_groups = (k + group - 1) / group;
  const int r0 = min(row0 + gid, n - 1), r1 = min(row0 + gid + 8, n - 1);
  TcLane l;
  l.qw = qw;
  l.scales = scales;
  l.zeros = zeros;
  l.pre = pre;
  l.x = x;
  l.w0 = r0;
  l.w1 = r1;
  l.s0 = r0 * num_groups;
  l.s1 = r1 * num_groups;
  l.has_x = gid < m;
  l.group = group;
  l.gshift = (group & (group - 1)) == 0 ? __ffs(group) - 1 : -1;
  float c[4] = {0.f, 0.f, 0.f, 0.f};
  if (group % 128 == 0) tc_slices<4, true>(c, l, warp, k, gid, tig, x_stride);
  else if (group % 64 == 0) tc_slices<2, true>(c, l, warp, k, gid, tig, x_stride);
  else tc_slices<4, false>(c, l, warp, k, gid, tig, x_stride);
  __shared__ float red[TC_WARPS][TC_ROWS][9];
  red[warp][gid][2 * tig] = c[0];
  red[warp][gid][2 * tig + 1] = c[1];
  red[warp][gid + 8][2 * tig] = c[2];
  red[warp][gid + 8][2 * tig + 1] = c[3];
  __syncthreads();
  if (threadIdx.x >= m * TC_ROWS) return;
  const int i = threadIdx.x / TC_ROWS, r = threadIdx.x % TC_ROWS;
  if (row0 + r >= n) return;
  float v = 0.f;
#pragma unroll
  for (int w = 0; w < TC_WARPS; w++) v += red[w][r][i];
  out[(size_t)i * out_stride + row0 + r] = f32_to_act(v);
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
