// Paged attention for DECODE, version 3 (attention_decode_v3 on CUDA cores, attention_decode_v3_tc on
// tensor cores): the grid, splits and partial-output format of attention_decode.cu, whose
// attention_decode_combine (launched by name from the same KernelSet) merges the splits.
// Needs HEAD_DIM, NUM_HEADS, NUM_KV_HEADS, TOKENS_PER_BLOCK, THREADS (the defines attention_decode gets).
// Cache layout [numBlocks, TOKENS_PER_BLOCK, NUM_KV_HEADS, HEAD_DIM] of kv_t.
#define GROUP (NUM_HEADS / NUM_KV_HEADS)

// Version 3: one pass, bandwidth first. Grid (numSplits, NUM_KV_HEADS, numSeqs), THREADS threads;
// split `s` covers [s·per, min((s+1)·per, ctx)) with per = max(minSplit, ceil(ctx / numSplits)), as
// v2. Each block serves the whole query group, so every K/V element is read once. Each lane group
// (V3_LANES lanes, 8 elements each) keeps its own online softmax state; the warps walk interleaved
// chunks of V3_CHUNK tokens independently (no block barrier in the loop), issuing all V3_U keys and
// values of a lane group as raw 16-byte (fp8: 8-byte) non-caching loads before using any, with the
// next chunk's page-table entries fetched a chunk ahead. The lane groups merge through shared
// memory at the end. numSplits == 1 writes `out` directly (no combine pass); otherwise the partial
// format of attention_decode. fp8: kScale is folded into q and vScale into the output; sm_89+
// converts e4m3 pairs with cvt.rn.f16x2.e4m3x2.
#define V3_LANES (HEAD_DIM / 8)
#define V3_TPW (32 / V3_LANES)
#define V3_WARPS (THREADS / 32)
#define V3_LG (THREADS / V3_LANES)
#define V3_U (GROUP > 4 ? 2 : 4)
#define V3_CHUNK (V3_TPW * V3_U)
#define V3_MIN_BLOCKS (GROUP > 4 ? 2 : 4)
#define V3_EMPTY (-1e30f)
#if KV_FP8
typedef uint2 v3_raw;
#else
typedef uint4 v3_raw;
#endif

__device__ __forceinline__ v3_raw v3_load(const kv_t* p) {
  v3_raw r;
#if KV_FP8
  asm volatile("ld.global.nc.L1::no_allocate.v2.u32 {%0,%1}, [%2];" : "=r"(r.x), "=r"(r.y) : "l"(p));
#else
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
#endif
  return r;
}

__device__ __forceinline__ float v3_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// The end of both v3 kernels: merge the NW partial softmax states (red/mstat/lstat, one per lane
// group or warp) of each query head and write either this block's output row `orow` (one split:
// o·oscale / L) or the split's partial output, max and sum for attention_decode_combine.
// This block's token range [start, end) of its sequence (blockIdx.z), KV head (blockIdx.y) and split
// (blockIdx.x), and its index in the partial-output arrays. An empty range (a short sequence's unused
// split, or a padding sequence) writes what the combine pass or the caller expects — zeros for the
// output row of a one-split sequence, max −inf / sum 0 otherwise — and returns false.
__device__ __forceinline__ bool v3_split_range(const int* __restrict__ contextLens, const int* __restrict__ qRows,
    int numSplits, int minSplit, act_t* __restrict__ out, int outStride, float* __restrict__ partialMax,
    float* __restrict__ partialSum, int& start, int& end, size_t& pidx) {
  const int split = blockIdx.x, kvh = blockIdx.y, seq = blockIdx.z;
  const int ctx = contextLens[seq];
  const int per = max(minSplit, (ctx + numSplits - 1) / numSplits);
  start = split * per;
  end = min(start + per, ctx);
  pidx = ((size_t)seq * NUM_KV_HEADS + kvh) * numSplits + split;
  if (start < end) return true;
  if (numSplits == 1) {
    for (int i = threadIdx.x; i < GROUP * HEAD_DIM; i += THREADS) out[(size_t)qRows[seq] * outStride + kvh * GROUP * HEAD_DIM + i] = f32_to_act(0.f);
  } else if (threadIdx.x < GROUP) {
    partialMax[pidx * GROUP + threadIdx.x] = NEG_INF; partialSum[pidx * GROUP + threadIdx.x] = 0.f;
  }
  return false;
}

template <int NW>
__device__ __forceinline__ void v3_merge_write(const float (*red)[GROUP][HEAD_DIM], const float (*mstat)[GROUP],
    const float (*lstat)[GROUP], float oscale, int numSplits, size_t pidx, act_t* __restrict__ orow,
    float* __restrict__ partialOut, float* __restrict__ partialMax, float* __restrict__ partialSum) {
  for (int i = threadIdx.x; i < GROUP * HEAD_DIM; i += THREADS) {
    const int g = i / HEAD_DIM, d = i % HEAD_DIM;
    float M = V3_EMPTY;
#pragma unroll
    for (int w = 0; w < NW; w++) M = fmaxf(M, mstat[w][g]);
    float o = 0.f, L = 0.f;
#pragma unroll
    for (int w = 0; w < NW; w++) {
      const float e = v3_exp2(mstat[w][g] - M);
      o = fmaf(red[w][g][d], e, o);
      L = fmaf(lstat[w][g], e, L);
    }
    if (numSplits == 1) {
      orow[i] = f32_to_act(o * oscale / L);
    } else {
      partialOut[pidx * GROUP * HEAD_DIM + i] = o * oscale;
      if (d == 0) { partialMax[pidx * GROUP + g] = M; partialSum[pidx * GROUP + g] = L; }
    }
  }
}

#if KV_FP8
// Two e4m3 codes (low byte first) → two floats, exactly (every e4m3 value is an fp16 value).
__device__ __forceinline__ float2 v3_fp8x2(uint32_t two) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  uint32_t h;
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(h) : "h"((unsigned short)two));
  return unpack_f16x2(h);
#else
  return make_float2(fp8e4m3_to_f32((unsigned char)two), fp8e4m3_to_f32((unsigned char)(two >> 8)));
#endif
}
#endif

// 8 raw KV elements → 8 floats (fp8: codes, unscaled).
__device__ __forceinline__ void v3_unpack(const v3_raw r, float* f) {
#if KV_FP8
  const float2 a = v3_fp8x2(r.x), b = v3_fp8x2(r.x >> 16), c = v3_fp8x2(r.y), d = v3_fp8x2(r.y >> 16);
#else
  const float2 a = unpack_act2(r.x), b = unpack_act2(r.y), c = unpack_act2(r.z), d = unpack_act2(r.w);
#endif
  f[0] = a.x; f[1] = a.y; f[2] = b.x; f[3] = b.y; f[4] = c.x; f[5] = c.y; f[6] = d.x; f[7] = d.y;
}

extern "C" __global__ void __launch_bounds__(THREADS, V3_MIN_BLOCKS) attention_decode_v3(const act_t* __restrict__ q,
    int qStride, const int* __restrict__ qRows, const kv_t* __restrict__ kCache,
    const kv_t* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocksPerSeq,
    const int* __restrict__ contextLens, float scale, float* __restrict__ partialOut,
    float* __restrict__ partialMax, float* __restrict__ partialSum, int numSplits, int minSplit, float kScale, float vScale,
    act_t* __restrict__ out, int outStride) {
  __shared__ float red[V3_LG][GROUP][HEAD_DIM];
  __shared__ float mstat[V3_LG][GROUP];
  __shared__ float lstat[V3_LG][GROUP];
  const int kvh = blockIdx.y, seq = blockIdx.z;
  int start, end;
  size_t pidx;
  if (!v3_split_range(contextLens, qRows, numSplits, minSplit, out, outStride, partialMax, partialSum, start, end, pidx)) return;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % V3_LANES, tok = (threadIdx.x % 32) / V3_LANES;
  const int* table = blockTables + (size_t)seq * maxBlocksPerSeq;
  const size_t headOff = (size_t)kvh * HEAD_DIM + lane * 8;
  const int stride = V3_WARPS * V3_CHUNK;
  const int wstart = start + warp * V3_CHUNK;
  int blk[V3_U];
#pragma unroll
  for (int u = 0; u < V3_U; u++) {
    const int t = wstart + u * V3_TPW + tok;
    blk[u] = t < end ? table[t / TOKENS_PER_BLOCK] : 0;
  }
#if KV_FP8
  const float qscale = scale * 1.4426950408889634f * kScale;  // scores in log2 units; fp8 codes · kScale
#else
  const float qscale = scale * 1.4426950408889634f;
  (void)kScale;
#endif
  const act_t* qrow = q + (size_t)qRows[seq] * qStride + kvh * GROUP * HEAD_DIM + lane * 8;
  float qreg[GROUP][8], acc[GROUP][8], m[GROUP], l[GROUP];
#pragma unroll
  for (int g = 0; g < GROUP; g++) {
    m[g] = V3_EMPTY; l[g] = 0.f;
#pragma unroll
    for (int j = 0; j < 8; j++) { qreg[g][j] = act_to_f32(qrow[g * HEAD_DIM + j]) * qscale; acc[g][j] = 0.f; }
  }
  // Loop bounds depend only on the warp: the shuffles below need all of its lanes.
  for (int base = wstart; base < end; base += stride) {
    v3_raw kr[V3_U], vr[V3_U];
#pragma unroll
    for (int u = 0; u < V3_U; u++) {
      const int t = base + u * V3_TPW + tok;
      if (t < end) {
        const size_t row = ((size_t)blk[u] * TOKENS_PER_BLOCK + t % TOKENS_PER_BLOCK) * NUM_KV_HEADS * HEAD_DIM + headOff;
        kr[u] = v3_load(kCache + row);
        vr[u] = v3_load(vCache + row);
      } else {
        kr[u] = v3_raw{}; vr[u] = v3_raw{};
      }
    }
#pragma unroll
    for (int u = 0; u < V3_U; u++) {  // the next chunk's pages, a chunk ahead
      const int t = base + stride + u * V3_TPW + tok;
      blk[u] = t < end ? table[t / TOKENS_PER_BLOCK] : 0;
    }
    float s[GROUP][V3_U];
#pragma unroll
    for (int u = 0; u < V3_U; u++) {
      float k[8];
      v3_unpack(kr[u], k);
      const bool valid = base + u * V3_TPW + tok < end;
#pragma unroll
      for (int g = 0; g < GROUP; g++) {
        float d = 0.f;
#pragma unroll
        for (int j = 0; j < 8; j++) d = fmaf(qreg[g][j], k[j], d);
#pragma unroll
        for (int o = V3_LANES / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
        s[g][u] = valid ? d : NEG_INF;
      }
    }
#pragma unroll
    for (int g = 0; g < GROUP; g++) {
      float mx = m[g];
#pragma unroll
      for (int u = 0; u < V3_U; u++) mx = fmaxf(mx, s[g][u]);
      const float corr = v3_exp2(m[g] - mx);
      m[g] = mx;
      l[g] *= corr;
#pragma unroll
      for (int j = 0; j < 8; j++) acc[g][j] *= corr;
#pragma unroll
      for (int u = 0; u < V3_U; u++) { s[g][u] = v3_exp2(s[g][u] - mx); l[g] += s[g][u]; }
    }
#pragma unroll
    for (int u = 0; u < V3_U; u++) {
      float v[8];
      v3_unpack(vr[u], v);
#pragma unroll
      for (int g = 0; g < GROUP; g++) {
#pragma unroll
        for (int j = 0; j < 8; j++) acc[g][j] = fmaf(s[g][u], v[j], acc[g][j]);
      }
    }
  }
  const int lg = threadIdx.x / V3_LANES;
#pragma unroll
  for (int g = 0; g < GROUP; g++) {
#pragma unroll
    for (int j = 0; j < 8; j++) red[lg][g][lane * 8 + j] = acc[g][j];
    if (lane == 0) { mstat[lg][g] = m[g]; lstat[lg][g] = l[g]; }
  }
  __syncthreads();
#if KV_FP8
  const float oscale = vScale;
#else
  const float oscale = 1.f;
  (void)vScale;
#endif
  v3_merge_write<V3_LG>(red, mstat, lstat, oscale, numSplits, pidx, out + (size_t)qRows[seq] * outStride + kvh * GROUP * HEAD_DIM,
      partialOut, partialMax, partialSum);
}

// Version 3, tensor cores ("v3tc"): the same grid, splits and outputs as attention_decode_v3, but
// each warp takes 16 tokens a step and does Q·Kᵀ and P·V with mma.sync m16n8k16 (act dtype in, f32
// accumulate): S[16 (GROUP used) × 8 tokens] twice, then Oᵀ[16 dims × 8 (GROUP used)] += Vᵀ·Pᵀ per 16
// dims, so no per-element FMAs, dot-product shuffles or conversions (16-bit caches only; P is
// rounded to the act dtype as in attention_prefill). The head dimension is permuted consistently on
// both sides of each product, so every operand comes straight from 16-byte global loads: thread
// (g = lane/4, t = lane%4) loads keys of token g, dims 32i + 8t .. +7, and values of tokens 2t, 2t+1,
// 2t+8, 2t+9, dims 64c + 8g .. +7 (pairs of tokens merged with prmt); each load instruction of the
// warp reads whole 32-byte sectors. Needs HEAD_DIM
// 64 or 128, GROUP <= 8 and a 16-bit KV cache; other specialisations compile a stub the host never
// launches (ops.ts decodeV3TensorCores).
#define TC_OK (!KV_FP8 && (HEAD_DIM == 64 || HEAD_DIM == 128) && GROUP <= 8)
#define TC_KCH (HEAD_DIM / 32)
#define TC_VCH (HEAD_DIM / 64)
#define TC_MB (HEAD_DIM / 16)
#define TC_WARPS (THREADS / 32)
#define TC_STEP 16

#if ACT_F16
#define TC_MMA "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
#else
#define TC_MMA "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
#endif

__device__ __forceinline__ void tc_mma(float* c, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(TC_MMA "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]) : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t tc_prmt(uint32_t x, uint32_t y, uint32_t sel) {
  uint32_t r;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(x), "r"(y), "r"(sel));
  return r;
}

__device__ __forceinline__ uint32_t tc_word(const uint4& v, int k) { return k == 0 ? v.x : k == 1 ? v.y : k == 2 ? v.z : v.w; }

extern "C" __global__ void __launch_bounds__(THREADS, 2) attention_decode_v3_tc(const act_t* __restrict__ q,
    int qStride, const int* __restrict__ qRows, const kv_t* __restrict__ kCache,
    const kv_t* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocksPerSeq,
    const int* __restrict__ contextLens, float scale, float* __restrict__ partialOut,
    float* __restrict__ partialMax, float* __restrict__ partialSum, int numSplits, int minSplit, float kScale, float vScale,
    act_t* __restrict__ out, int outStride) {
#if !TC_OK
  (void)q; (void)qStride; (void)qRows; (void)kCache; (void)vCache; (void)blockTables; (void)maxBlocksPerSeq; (void)contextLens;
  (void)scale; (void)partialOut; (void)partialMax; (void)partialSum; (void)numSplits; (void)minSplit; (void)kScale; (void)vScale;
  (void)out; (void)outStride;
  asm volatile("trap;");
#else
  (void)kScale; (void)vScale;
  __shared__ float red[TC_WARPS][GROUP][HEAD_DIM];
  __shared__ float mstat[TC_WARPS][GROUP];
  __shared__ float lstat[TC_WARPS][GROUP];
  const int kvh = blockIdx.y, seq = blockIdx.z;
  int start, end;
  size_t pidx;
  if (!v3_split_range(contextLens, qRows, numSplits, minSplit, out, outStride, partialMax, partialSum, start, end, pidx)) return;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
  const int* table = blockTables + (size_t)seq * maxBlocksPerSeq;
  const size_t rowElems = (size_t)NUM_KV_HEADS * HEAD_DIM;
  const kv_t* kBase = kCache + (size_t)kvh * HEAD_DIM + 8 * t4;                   // + 32i per chunk
  const kv_t* vBase = vCache + (size_t)kvh * HEAD_DIM + 8 * g;                    // + 64c per chunk
  // Q as an A operand: row g (query g of the group; rows >= GROUP and g + 8 are zero), dims 32i + 8t4 .. +7.
  uint4 qa[TC_KCH];
#pragma unroll
  for (int i = 0; i < TC_KCH; i++) {
    qa[i] = make_uint4(0u, 0u, 0u, 0u);
    if (g < GROUP) {
      const uint32_t* src = reinterpret_cast<const uint32_t*>(q + (size_t)qRows[seq] * qStride + (kvh * GROUP + g) * HEAD_DIM + 32 * i + 8 * t4);
      qa[i] = make_uint4(src[0], src[1], src[2], src[3]);
    }
  }
  const float qscale = scale * 1.4426950408889634f;  // scores in log2 units
  const int stride = TC_WARPS * TC_STEP;
  const int wstart = start + warp * TC_STEP;
  // Tokens of a step at `base`: keys base + 8j + g (j = 0, 1); values base + 2t4 + {0, 1} + 8·{0, 1}.
  int kblk[2], vblk[4];
#pragma unroll
  for (int j = 0; j < 2; j++) { const int tk = wstart + 8 * j + g; kblk[j] = tk < end ? table[tk / TOKENS_PER_BLOCK] : 0; }
#pragma unroll
  for (int e = 0; e < 4; e++) { const int tv = wstart + 2 * t4 + (e & 1) + 8 * (e >> 1); vblk[e] = tv < end ? table[tv / TOKENS_PER_BLOCK] : 0; }
  float acc[TC_MB][4];
#pragma unroll
  for (int mb = 0; mb < TC_MB; mb++) acc[mb][0] = acc[mb][1] = acc[mb][2] = acc[mb][3] = 0.f;
  float m = V3_EMPTY, l = 0.f;  // query g's running max (log2 units) and this thread's part of its sum
  for (int base = wstart; base < end; base += stride) {  // warp-uniform bounds: mma and shuffles need the whole warp
    uint4 kr[2][TC_KCH], vr[4][TC_VCH];
#pragma unroll
    for (int j = 0; j < 2; j++) {
      const int tk = base + 8 * j + g;
      const kv_t* p = kBase + ((size_t)kblk[j] * TOKENS_PER_BLOCK + tk % TOKENS_PER_BLOCK) * rowElems;
#pragma unroll
      for (int i = 0; i < TC_KCH; i++) kr[j][i] = tk < end ? v3_load(p + 32 * i) : make_uint4(0u, 0u, 0u, 0u);
    }
#pragma unroll
    for (int e = 0; e < 4; e++) {
      const int tv = base + 2 * t4 + (e & 1) + 8 * (e >> 1);
      const kv_t* p = vBase + ((size_t)vblk[e] * TOKENS_PER_BLOCK + tv % TOKENS_PER_BLOCK) * rowElems;
#pragma unroll
      for (int c = 0; c < TC_VCH; c++) vr[e][c] = tv < end ? v3_load(p + 64 * c) : make_uint4(0u, 0u, 0u, 0u);
    }
#pragma unroll
    for (int j = 0; j < 2; j++) { const int tk = base + stride + 8 * j + g; kblk[j] = tk < end ? table[tk / TOKENS_PER_BLOCK] : 0; }
#pragma unroll
    for (int e = 0; e < 4; e++) { const int tv = base + stride + 2 * t4 + (e & 1) + 8 * (e >> 1); vblk[e] = tv < end ? table[tv / TOKENS_PER_BLOCK] : 0; }
    // S = Q·Kᵀ for tokens base + 8j .. +7: this thread gets query g at tokens base + 8j + 2t4 + {0, 1}.
    float s[2][4];
#pragma unroll
    for (int j = 0; j < 2; j++) {
      s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
      for (int ks = 0; ks < HEAD_DIM / 16; ks++) {
        const int i = ks / 2, h = (ks % 2) * 2;
        tc_mma(s[j], tc_word(qa[i], h), 0u, tc_word(qa[i], h + 1), 0u, tc_word(kr[j][i], h), tc_word(kr[j][i], h + 1));
      }
    }
    float mx = m;
#pragma unroll
    for (int j = 0; j < 2; j++) {
#pragma unroll
      for (int e = 0; e < 2; e++) {
        s[j][e] = base + 8 * j + 2 * t4 + e < end ? s[j][e] * qscale : NEG_INF;
        mx = fmaxf(mx, s[j][e]);
      }
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float corr = v3_exp2(m - mx);
    m = mx;
    float p[2][2];
#pragma unroll
    for (int j = 0; j < 2; j++) { p[j][0] = v3_exp2(s[j][0] - mx); p[j][1] = v3_exp2(s[j][1] - mx); }
    l = l * corr + (p[0][0] + p[0][1]) + (p[1][0] + p[1][1]);
    // This thread accumulates queries 2t4 and 2t4 + 1 (the Pᵀ columns): their corrections live in lanes 8t4 and 8t4 + 4.
    const float c0 = __shfl_sync(0xffffffffu, corr, 8 * t4), c1 = __shfl_sync(0xffffffffu, corr, 8 * t4 + 4);
    const uint32_t b0 = pack_act2(p[0][0], p[0][1]), b1 = pack_act2(p[1][0], p[1][1]);
#pragma unroll
    for (int mb = 0; mb < TC_MB; mb++) {
      acc[mb][0] *= c0; acc[mb][1] *= c1; acc[mb][2] *= c0; acc[mb][3] *= c1;
      const int c = mb / 4, w = mb % 4;
      const uint32_t lo01 = tc_prmt(tc_word(vr[0][c], w), tc_word(vr[1][c], w), 0x5410u);
      const uint32_t hi01 = tc_prmt(tc_word(vr[0][c], w), tc_word(vr[1][c], w), 0x7632u);
      const uint32_t lo89 = tc_prmt(tc_word(vr[2][c], w), tc_word(vr[3][c], w), 0x5410u);
      const uint32_t hi89 = tc_prmt(tc_word(vr[2][c], w), tc_word(vr[3][c], w), 0x7632u);
      tc_mma(acc[mb], lo01, hi01, lo89, hi89, b0, b1);
    }
  }
  l += __shfl_xor_sync(0xffffffffu, l, 1);
  l += __shfl_xor_sync(0xffffffffu, l, 2);
  if (t4 == 0 && g < GROUP) { mstat[warp][g] = m; lstat[warp][g] = l; }
  // acc[mb] = Oᵀ rows (dims) d, d + 1 with d = 64·(mb/4) + 8g + 2·(mb%4), columns (queries) 2t4, 2t4 + 1.
#pragma unroll
  for (int mb = 0; mb < TC_MB; mb++) {
    const int d = 64 * (mb / 4) + 8 * g + 2 * (mb % 4);
    if (2 * t4 < GROUP) { red[warp][2 * t4][d] = acc[mb][0]; red[warp][2 * t4][d + 1] = acc[mb][2]; }
    if (2 * t4 + 1 < GROUP) { red[warp][2 * t4 + 1][d] = acc[mb][1]; red[warp][2 * t4 + 1][d + 1] = acc[mb][3]; }
  }
  __syncthreads();
  v3_merge_write<TC_WARPS>(red, mstat, lstat, 1.f, numSplits, pidx, out + (size_t)qRows[seq] * outStride + kvh * GROUP * HEAD_DIM,
      partialOut, partialMax, partialSum);
#endif
}
