// Paged attention for PREFILL (and chunked prefill over a cached prefix), flash-attention style:
// a block takes BM queries of one head, walks the sequence's keys in tiles of BN from the paged
// cache (this step's keys already written there by rope_write_kv), keeps a running max and sum
// (online softmax, log2 domain) and accumulates O with bf16 (fp16 with ACT_F16) tensor-core MMAs
// (mma.sync m16n8k16, f32 accumulate). With KV_FP8 the cache holds e4m3 codes: tiles are dequantized
// (code · kScale / vScale) in registers on their way to shared memory, which holds activations. Causal: query i of a sequence sits at position contextLen - queryLen + i and sees
// keys at positions <= its own. GQA: head h reads KV head h / GROUP.
// Grid (ceil(maxQueryLen / BM), NUM_HEADS, numSeqs), 128 threads (4 warps x 16 query rows).
// Dynamic shared memory: (BM + 2 * BN) * (HEAD_DIM + 8) * 2 bytes. Needs HEAD_DIM (multiple of 16,
// <= 128), NUM_HEADS, NUM_KV_HEADS, TOKENS_PER_BLOCK.
#define GROUP (NUM_HEADS / NUM_KV_HEADS)
#define BM 64
#define BN 64
#define LDS (HEAD_DIM + 8)
#define NT_S (BN / 8)
#define KT_D (HEAD_DIM / 16)
#define NT_D (HEAD_DIM / 8)
#define CHUNKS (HEAD_DIM / 8)

#if ACT_F16
#define MMA_16816 "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
#else
#define MMA_16816 "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
#endif

__device__ __forceinline__ void mma_act_16816(float* c, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                              uint32_t b0, uint32_t b1) {
  asm volatile(
      MMA_16816 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Four 8x8 16-bit tiles; lane l addresses row (l % 8) of tile l / 8. Thread (g, t) gets row g, cols 2t..2t+1 of each.
__device__ __forceinline__ void ldsm_x4(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, const act_t* p) {
  const uint32_t addr = (uint32_t)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n" : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

// Two 8x8 16-bit tiles, transposed on load: lanes 0-7 address tile 0's rows, lanes 8-15 tile 1's.
// Gives each thread (g = lane/4, t = lane%4) rows 2t, 2t+1 of column g: an m16n8k16 B fragment of V.
__device__ __forceinline__ void ldsm_x2_trans(uint32_t& r0, uint32_t& r1, const act_t* p) {
  const uint32_t addr = (uint32_t)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n" : "=r"(r0), "=r"(r1) : "r"(addr));
}

// Loads BN key (or value) rows starting at key kb into smem; rows past the context are zeros.
__device__ __forceinline__ void load_kv_tile(act_t* dst, const kv_t* cache, const int* table, int kb, int ctx, int kvh, float scale) {
  for (int c = threadIdx.x; c < BN * CHUNKS; c += 128) {
    const int r = c / CHUNKS, col = (c % CHUNKS) * 8, key = kb + r;
    uint4 v = make_uint4(0u, 0u, 0u, 0u);
    if (key < ctx) {
      const int block = table[key / TOKENS_PER_BLOCK];
      const kv_t* src = cache + (((size_t)block * TOKENS_PER_BLOCK + key % TOKENS_PER_BLOCK) * NUM_KV_HEADS + kvh) * HEAD_DIM + col;
#if KV_FP8
      float x[8];
      load8_kv(src, x, scale);
      v = make_uint4(pack_act2(x[0], x[1]), pack_act2(x[2], x[3]), pack_act2(x[4], x[5]), pack_act2(x[6], x[7]));
#else
      (void)scale;
      v = *reinterpret_cast<const uint4*>(src);
#endif
    }
    *reinterpret_cast<uint4*>(dst + r * LDS + col) = v;
  }
}

extern "C" __global__ void __launch_bounds__(128) attention_prefill(const act_t* __restrict__ q, int qStride,
    act_t* __restrict__ out, int outStride, const kv_t* __restrict__ kCache, const kv_t* __restrict__ vCache,
    const int* __restrict__ blockTables, int maxBlocksPerSeq, const int* __restrict__ queryStarts,
    const int* __restrict__ queryLens, const int* __restrict__ contextLens, float scale, float kScale, float vScale) {
  extern __shared__ uint4 smemRaw[];
  act_t* Qs = reinterpret_cast<act_t*>(smemRaw);
  act_t* Ks = Qs + BM * LDS;
  act_t* Vs = Ks + BN * LDS;
  const int qTile = blockIdx.x, h = blockIdx.y, seq = blockIdx.z, kvh = h / GROUP;
  const int nq = queryLens[seq];
  if (qTile * BM >= nq) return;
  const int ctx = contextLens[seq], q0 = queryStarts[seq], firstPos = ctx - nq;
  const int* table = blockTables + (size_t)seq * maxBlocksPerSeq;
  for (int c = threadIdx.x; c < BM * CHUNKS; c += 128) {
    const int r = c / CHUNKS, col = (c % CHUNKS) * 8, qi = qTile * BM + r;
    uint4 v = make_uint4(0u, 0u, 0u, 0u);
    if (qi < nq) v = *reinterpret_cast<const uint4*>(q + (size_t)(q0 + qi) * qStride + h * HEAD_DIM + col);
    *reinterpret_cast<uint4*>(Qs + r * LDS + col) = v;
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
  const int row0 = warp * 16 + g;  // this thread's rows: row0 and row0 + 8 of the tile
  const int pos0 = firstPos + qTile * BM + row0, pos1 = pos0 + 8;
  const int numKeys = min(ctx, firstPos + qTile * BM + BM);
  const float sl2 = scale * 1.4426950408889634f;
  float o[NT_D][4];
#pragma unroll
  for (int n = 0; n < NT_D; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m0 = NEG_INF, m1 = NEG_INF, l0 = 0.f, l1 = 0.f;
  for (int kb = 0; kb < numKeys; kb += BN) {
    __syncthreads();
    load_kv_tile(Ks, kCache, table, kb, ctx, kvh, kScale);
    load_kv_tile(Vs, vCache, table, kb, ctx, kvh, vScale);
    __syncthreads();
    float s[NT_S][4];
#pragma unroll
    for (int n = 0; n < NT_S; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
    // ldmatrix addressing: A (Q rows) tiles = rows 0-7 / 8-15 x cols k0 / k0+8; B (K rows) tiles =
    // keys of n-tile n (cols k0, k0+8) then of n-tile n+1.
    const act_t* qa = Qs + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + (lane >> 4) * 8;
    const act_t* kbase = Ks + ((lane & 7) + (lane >> 4) * 8) * LDS + ((lane >> 3) & 1) * 8;
#pragma unroll
    for (int kk = 0; kk < KT_D; kk++) {
      uint32_t a0, a1, a2, a3;
      ldsm_x4(a0, a1, a2, a3, qa + kk * 16);
#pragma unroll
      for (int n = 0; n < NT_S; n += 2) {
        uint32_t b0, b1, b2, b3;
        ldsm_x4(b0, b1, b2, b3, kbase + n * 8 * LDS + kk * 16);
        mma_act_16816(s[n], a0, a1, a2, a3, b0, b1);
        mma_act_16816(s[n + 1], a0, a1, a2, a3, b2, b3);
      }
    }
    float mx0 = NEG_INF, mx1 = NEG_INF;
#pragma unroll
    for (int n = 0; n < NT_S; n++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int key = kb + n * 8 + 2 * t4 + (e & 1);
        const int pos = e < 2 ? pos0 : pos1;
        s[n][e] = (key <= pos && key < ctx) ? s[n][e] * sl2 : NEG_INF;
      }
      mx0 = fmaxf(mx0, fmaxf(s[n][0], s[n][1]));
      mx1 = fmaxf(mx1, fmaxf(s[n][2], s[n][3]));
    }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1)); mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1)); mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
    const float sub0 = mn0 == NEG_INF ? 0.f : mn0, sub1 = mn1 == NEG_INF ? 0.f : mn1;
    const float alpha0 = exp2f(m0 - sub0), alpha1 = exp2f(m1 - sub1);
    m0 = mn0; m1 = mn1;
    float rs0 = 0.f, rs1 = 0.f;
#pragma unroll
    for (int n = 0; n < NT_S; n++) {
      s[n][0] = exp2f(s[n][0] - sub0); s[n][1] = exp2f(s[n][1] - sub0);
      s[n][2] = exp2f(s[n][2] - sub1); s[n][3] = exp2f(s[n][3] - sub1);
      rs0 += s[n][0] + s[n][1];
      rs1 += s[n][2] + s[n][3];
    }
    rs0 += __shfl_xor_sync(0xffffffffu, rs0, 1); rs0 += __shfl_xor_sync(0xffffffffu, rs0, 2);
    rs1 += __shfl_xor_sync(0xffffffffu, rs1, 1); rs1 += __shfl_xor_sync(0xffffffffu, rs1, 2);
    l0 = l0 * alpha0 + rs0;
    l1 = l1 * alpha1 + rs1;
#pragma unroll
    for (int n = 0; n < NT_D; n++) { o[n][0] *= alpha0; o[n][1] *= alpha0; o[n][2] *= alpha1; o[n][3] *= alpha1; }
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) {
      const uint32_t a0 = pack_act2(s[2 * kk][0], s[2 * kk][1]), a1 = pack_act2(s[2 * kk][2], s[2 * kk][3]);
      const uint32_t a2 = pack_act2(s[2 * kk + 1][0], s[2 * kk + 1][1]), a3 = pack_act2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
      const act_t* vr = Vs + (kk * 16 + (lane & 15)) * LDS;
#pragma unroll
      for (int n = 0; n < NT_D; n++) {
        uint32_t b0, b1;
        ldsm_x2_trans(b0, b1, vr + n * 8);
        mma_act_16816(o[n], a0, a1, a2, a3, b0, b1);
      }
    }
  }
  const float inv0 = 1.f / l0, inv1 = 1.f / l1;
  const int qi0 = qTile * BM + row0, qi1 = qi0 + 8;
#pragma unroll
  for (int n = 0; n < NT_D; n++) {
    const int col = h * HEAD_DIM + n * 8 + 2 * t4;
    if (qi0 < nq) *reinterpret_cast<uint32_t*>(out + (size_t)(q0 + qi0) * outStride + col) = pack_act2(o[n][0] * inv0, o[n][1] * inv0);
    if (qi1 < nq) *reinterpret_cast<uint32_t*>(out + (size_t)(q0 + qi1) * outStride + col) = pack_act2(o[n][2] * inv1, o[n][3] * inv1);
  }
}
