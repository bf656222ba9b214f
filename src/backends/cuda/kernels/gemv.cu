// GEMV for decode batches: D[i, n] = A[i, :] · B[n, :] (+ bias[n]) (→ relu / gelu(erf)) for i < m ≤ M rows.
//   A [m, k] (row stride lda), B [n, k] (the HF Linear weight, contiguous), bias [n], all act_t; fp32
//   accumulate; D act_t or float32 (out_f32) with row stride ldd. A tactic gemm-tactic.ts times against
//   cuBLASLt at build time (gemv.ts launches it). Bandwidth-bound: each warp owns RW consecutive rows of
//   B and streams them in 16-byte chunks (lane l takes chunks l, l + 32, ...; UNROLL chunks × RW rows of
//   loads in flight per thread, L1::no_allocate so the streamed weight does not evict A); each A chunk
//   (8 columns of the m rows, read through L1 by every warp of the SM) is unpacked once and reused by
//   the warp's RW rows. A warp reduce-scatter ends it: no shared memory, no __syncthreads.
// Needs k % 8 == 0 and 16-byte aligned A rows / B (gemv.ts gemvApplies). Rows past n are clamped
// (read row n - 1) and not written.
#define GEMV_WARPS 4
#define GEMV_THREADS (32 * GEMV_WARPS)

// 16 bytes of the streamed weight: read-only path, not kept in L1, 256-byte L2 prefetch (sm_80+).
__device__ __forceinline__ uint4 ld_stream16(const act_t* p) {
#if __CUDA_ARCH__ >= 800
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
  return v;
#else
  return __ldg(reinterpret_cast<const uint4*>(p));
#endif
}

// acc += Σ_j w_j · x_j over one chunk. SPLIT: two fresh partial sums, then one add into acc (short
// dependent chains when few accumulators interleave); else 8 FMAs straight into acc.
template <bool SPLIT>
__device__ __forceinline__ void dot8(uint4 w, const float* x, float& acc) {
  const float2 a = unpack_act2(w.x), b = unpack_act2(w.y), c = unpack_act2(w.z), d = unpack_act2(w.w);
  if (SPLIT) {
    float d0 = a.x * x[0], d1 = a.y * x[1];
    d0 = fmaf(b.x, x[2], d0); d1 = fmaf(b.y, x[3], d1);
    d0 = fmaf(c.x, x[4], d0); d1 = fmaf(c.y, x[5], d1);
    d0 = fmaf(d.x, x[6], d0); d1 = fmaf(d.y, x[7], d1);
    acc += d0 + d1;
  } else {
    acc = fmaf(a.x, x[0], acc); acc = fmaf(a.y, x[1], acc);
    acc = fmaf(b.x, x[2], acc); acc = fmaf(b.y, x[3], acc);
    acc = fmaf(c.x, x[4], acc); acc = fmaf(c.y, x[5], acc);
    acc = fmaf(d.x, x[6], acc); acc = fmaf(d.y, x[7], acc);
  }
}

// The epilogue (gemm.ts GemmEpilogue): + bias, then act 1 = relu, 2 = gelu (erf form, as the CPU backend).
__device__ __forceinline__ float gemv_epilogue(float v, const act_t* __restrict__ bias, int col, int act) {
  if (bias != nullptr) v += act_to_f32(bias[col]);
  if (act == 1) v = fmaxf(v, 0.f);
  else if (act == 2) v = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
  return v;
}

// Sums P (a power of two ≤ 32) values over the warp in P - 1 + (5 - log2 P) shuffles instead of 5·P: each
// butterfly step (offset O) sends half of the values still held (HALF each way) to the partner and keeps the
// other half. Lane l ends with the full sum of value l >> (5 - log2 P); v is clobbered. Templates, not loops,
// so every index is a compile-time constant and v stays in registers.
template <int HALF, int O>
struct scatter_step {
  static __device__ __forceinline__ void run(float* v, int lane) {
    const bool upper = (lane & O) != 0;
#pragma unroll
    for (int j = 0; j < HALF; j++) {
      const float send = upper ? v[j] : v[j + HALF];
      const float keep = upper ? v[j + HALF] : v[j];
      v[j] = keep + __shfl_xor_sync(0xffffffffu, send, O);
    }
    scatter_step<HALF / 2, O / 2>::run(v, lane);
  }
};
template <int O>
struct scatter_step<0, O> {  // one value left: plain butterfly sums over the remaining offsets
  static __device__ __forceinline__ void run(float* v, int) {
#pragma unroll
    for (int o = O; o > 0; o >>= 1) v[0] += __shfl_xor_sync(0xffffffffu, v[0], o);
  }
};

template <int P>
struct log2_of { static constexpr int value = 1 + log2_of<P / 2>::value; };
template <>
struct log2_of<1> { static constexpr int value = 0; };

template <int P>
__device__ __forceinline__ float warp_reduce_scatter(float* v, int lane) {
  static_assert(P >= 1 && P <= 32 && (P & (P - 1)) == 0, "P must be a power of two up to 32");
  scatter_step<P / 2, 16>::run(v, lane);
  return v[0];
}

// M: row capacity (m ≤ M computed); RW: B rows per warp; UNROLL: chunks per lane per iteration.
template <int M, int RW, int UNROLL>
__device__ __forceinline__ void gemv(const act_t* __restrict__ a, int lda, int m, int n, int k,
    const act_t* __restrict__ b, const act_t* __restrict__ bias, int act, void* __restrict__ d, int ldd, int out_f32) {
  constexpr bool SPLIT = M * RW < 8;
  const int lane = threadIdx.x & 31;
  const int row0 = (blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5)) * RW;
  if (row0 >= n) return;  // whole warp: nothing to write
  const int kc = k >> 3;
  const act_t* rows[RW];
#pragma unroll
  for (int r = 0; r < RW; r++) rows[r] = b + (size_t)min(row0 + r, n - 1) * k;
  float acc[M][RW];
#pragma unroll
  for (int i = 0; i < M; i++)
#pragma unroll
    for (int r = 0; r < RW; r++) acc[i][r] = 0.f;
  for (int c0 = lane; c0 < kc; c0 += 32 * UNROLL) {
    uint4 w[UNROLL][RW];
#pragma unroll
    for (int u = 0; u < UNROLL; u++) {
      const int c = min(c0 + 32 * u, kc - 1);  // past the end: a valid address, its sums are skipped below
#pragma unroll
      for (int r = 0; r < RW; r++) w[u][r] = ld_stream16(rows[r] + 8 * c);
    }
#pragma unroll
    for (int u = 0; u < UNROLL; u++) {
      const int c = c0 + 32 * u;
      if (c >= kc) break;
#pragma unroll
      for (int i = 0; i < M; i++) {
        if (i >= m) break;
        float x[8];
        load8_act(a + (size_t)i * lda + 8 * c, x);
#pragma unroll
        for (int r = 0; r < RW; r++) dot8<SPLIT>(w[u][r], x, acc[i][r]);
      }
    }
  }
  // Lane l ends with the sum of value t = l >> SHIFT, i.e. (row t / RW, column row0 + t % RW); one lane per value writes it.
  constexpr int SHIFT = 5 - log2_of<M * RW>::value;
  const float mine = warp_reduce_scatter<M * RW>(&acc[0][0], lane);
  const int t = lane >> SHIFT, i = t / RW, col = row0 + t % RW;
  if ((lane & ((1 << SHIFT) - 1)) != 0 || i >= m || col >= n) return;
  const float v = gemv_epilogue(mine, bias, col, act);
  if (out_f32) reinterpret_cast<float*>(d)[(size_t)i * ldd + col] = v;
  else reinterpret_cast<act_t*>(d)[(size_t)i * ldd + col] = f32_to_act(v);
}

// grid (ceil(n / (GEMV_WARPS · RW))), block GEMV_THREADS; RW = 2 for m1/m2, 4 for m4/m8 (gemv.ts GEMV_KERNELS).
#define GEMV_PARAMS const act_t* __restrict__ a, int lda, int m, int n, int k, const act_t* __restrict__ b, \
    const act_t* __restrict__ bias, int act, void* __restrict__ d, int ldd, int out_f32
#define GEMV_ARGS a, lda, m, n, k, b, bias, act, d, ldd, out_f32
extern "C" __global__ void __launch_bounds__(GEMV_THREADS, 8) gemv_m1(GEMV_PARAMS) { gemv<1, 2, 4>(GEMV_ARGS); }
extern "C" __global__ void __launch_bounds__(GEMV_THREADS, 8) gemv_m2(GEMV_PARAMS) { gemv<2, 2, 4>(GEMV_ARGS); }
extern "C" __global__ void __launch_bounds__(GEMV_THREADS, 4) gemv_m4(GEMV_PARAMS) { gemv<4, 4, 2>(GEMV_ARGS); }
extern "C" __global__ void __launch_bounds__(GEMV_THREADS, 4) gemv_m8(GEMV_PARAMS) { gemv<8, 4, 2>(GEMV_ARGS); }
