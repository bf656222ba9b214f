// Paged attention for DECODE (one query token per sequence), split-KV ("flash-decoding").
// Grid (numSplits, NUM_KV_HEADS, numSeqs), THREADS threads. Each block reads one KV head's keys and
// values for one PARTITION of the context exactly once and serves the whole query group (GQA:
// query heads kvh*GROUP .. kvh*GROUP+GROUP-1, as HF repeat_kv maps them). It writes an unnormalised
// partial output with its max and sum (log2 domain); attention_decode_combine merges the splits.
// Needs HEAD_DIM (64, 128 or 256), NUM_HEADS, NUM_KV_HEADS, TOKENS_PER_BLOCK, PARTITION, THREADS.
// Cache layout [numBlocks, TOKENS_PER_BLOCK, NUM_KV_HEADS, HEAD_DIM] of kv_t (KV_FP8: e4m3 codes,
// dequantized in registers as code · kScale / vScale; otherwise activations and the scales are ignored).
// Versions 3 (attention_decode_v3, attention_decode_v3_tc) live in attention_decode_v3.cu; their splits are merged by
// attention_decode_combine below.
#define GROUP (NUM_HEADS / NUM_KV_HEADS)
#define LANES_PER_TOKEN (HEAD_DIM / 8)
#define TOKENS_PER_PASS (THREADS / LANES_PER_TOKEN)
#define UNROLL 4

__device__ __forceinline__ const kv_t* kv_row(const kv_t* cache, const int* table, int t, int kvh) {
  const int block = table[t / TOKENS_PER_BLOCK];
  return cache + (((size_t)block * TOKENS_PER_BLOCK + (t % TOKENS_PER_BLOCK)) * NUM_KV_HEADS + kvh) * HEAD_DIM;
}

extern "C" __global__ void __launch_bounds__(THREADS) attention_decode(const act_t* __restrict__ q,
    int qStride, const int* __restrict__ qRows, const kv_t* __restrict__ kCache,
    const kv_t* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocksPerSeq,
    const int* __restrict__ contextLens, float scale, float* __restrict__ partialOut,
    float* __restrict__ partialMax, float* __restrict__ partialSum, int numSplits, float kScale, float vScale) {
  __shared__ float qs[GROUP][HEAD_DIM];
  __shared__ float scores[PARTITION][GROUP];
  __shared__ float red[TOKENS_PER_PASS][GROUP][HEAD_DIM / 8 * 8];
  __shared__ float scratch[32];
  const int split = blockIdx.x, kvh = blockIdx.y, seq = blockIdx.z;
  const int ctx = contextLens[seq];
  const int start = split * PARTITION, end = min(start + PARTITION, ctx);
  const size_t pidx = ((size_t)seq * NUM_KV_HEADS + kvh) * numSplits + split;
  if (start >= ctx) {  // attention_decode_combine skips a split whose max is -inf without reading its output
    if (threadIdx.x < GROUP) { partialMax[pidx * GROUP + threadIdx.x] = NEG_INF; partialSum[pidx * GROUP + threadIdx.x] = 0.f; }
    return;
  }
  const float qscale = scale * 1.4426950408889634f;  // scores in log2 units: exp2 later
  const act_t* qrow = q + (size_t)qRows[seq] * qStride + kvh * GROUP * HEAD_DIM;
  for (int i = threadIdx.x; i < GROUP * HEAD_DIM; i += THREADS) qs[i / HEAD_DIM][i % HEAD_DIM] = act_to_f32(qrow[i]) * qscale;
  __syncthreads();
  const int* table = blockTables + (size_t)seq * maxBlocksPerSeq;
  const int lane = threadIdx.x % LANES_PER_TOKEN, tok = threadIdx.x / LANES_PER_TOKEN;
  float qreg[GROUP][8];  // this lane's slice of every query in the group, kept in registers
#pragma unroll
  for (int g = 0; g < GROUP; g++)
#pragma unroll
    for (int j = 0; j < 8; j++) qreg[g][j] = qs[g][lane * 8 + j];
  // Loop bounds are the same for every thread: the shuffles below need the whole warp.
  for (int base = start; base < end; base += TOKENS_PER_PASS * UNROLL) {
    const int t0 = base + tok;
    float kv[UNROLL][8];
#pragma unroll
    for (int u = 0; u < UNROLL; u++) {
      const int t = t0 + u * TOKENS_PER_PASS;
      if (t < end) load8_kv(kv_row(kCache, table, t, kvh) + lane * 8, kv[u], kScale);
      else for (int j = 0; j < 8; j++) kv[u][j] = 0.f;
    }
#pragma unroll
    for (int u = 0; u < UNROLL; u++) {
      const int t = t0 + u * TOKENS_PER_PASS;
#pragma unroll
      for (int g = 0; g < GROUP; g++) {
        float d = 0.f;
#pragma unroll
        for (int j = 0; j < 8; j++) d += qreg[g][j] * kv[u][j];
#pragma unroll
        for (int o = LANES_PER_TOKEN / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
        if (lane == 0 && t < end) scores[t - start][g] = d;
      }
    }
  }
  __syncthreads();
  const int n = end - start;
  float mx[GROUP], sum[GROUP];
#pragma unroll
  for (int g = 0; g < GROUP; g++) {
    float m = NEG_INF;
    for (int i = threadIdx.x; i < n; i += THREADS) m = fmaxf(m, scores[i][g]);
    mx[g] = block_max(m, scratch);
  }
  __syncthreads();
#pragma unroll
  for (int g = 0; g < GROUP; g++) {
    float s = 0.f;
    for (int i = threadIdx.x; i < n; i += THREADS) { const float p = exp2f(scores[i][g] - mx[g]); scores[i][g] = p; s += p; }
    sum[g] = block_sum(s, scratch);
  }
  __syncthreads();
  float acc[GROUP][8];
#pragma unroll
  for (int g = 0; g < GROUP; g++)
#pragma unroll
    for (int j = 0; j < 8; j++) acc[g][j] = 0.f;
  for (int base = start; base < end; base += TOKENS_PER_PASS * UNROLL) {
    const int t0 = base + tok;
    float vv[UNROLL][8];
#pragma unroll
    for (int u = 0; u < UNROLL; u++) {
      const int t = t0 + u * TOKENS_PER_PASS;
      if (t < end) load8_kv(kv_row(vCache, table, t, kvh) + lane * 8, vv[u], vScale);
    }
#pragma unroll
    for (int u = 0; u < UNROLL; u++) {
      const int t = t0 + u * TOKENS_PER_PASS;
      if (t < end) {
#pragma unroll
        for (int g = 0; g < GROUP; g++) {
          const float p = scores[t - start][g];
#pragma unroll
          for (int j = 0; j < 8; j++) acc[g][j] += p * vv[u][j];
        }
      }
    }
  }
#pragma unroll
  for (int g = 0; g < GROUP; g++)
#pragma unroll
    for (int j = 0; j < 8; j++) red[tok][g][lane * 8 + j] = acc[g][j];
  __syncthreads();
  for (int i = threadIdx.x; i < GROUP * HEAD_DIM; i += THREADS) {
    const int g = i / HEAD_DIM, d = i % HEAD_DIM;
    float s = 0.f;
#pragma unroll
    for (int w = 0; w < TOKENS_PER_PASS; w++) s += red[w][g][d];
    partialOut[pidx * GROUP * HEAD_DIM + i] = s;
  }
  if (threadIdx.x < GROUP) {
#pragma unroll
    for (int g = 0; g < GROUP; g++) {
      if (g == (int)threadIdx.x) { partialMax[pidx * GROUP + g] = mx[g]; partialSum[pidx * GROUP + g] = sum[g]; }
    }
  }
}

// Merges the splits: out[qRows[seq], h*HEAD_DIM + d] = Σ_s o_s·2^(m_s−M) / Σ_s l_s·2^(m_s−M).
// Grid (NUM_HEADS, numSeqs), HEAD_DIM threads.
extern "C" __global__ void __launch_bounds__(HEAD_DIM) attention_decode_combine(const float* __restrict__ partialOut,
    const float* __restrict__ partialMax, const float* __restrict__ partialSum, const int* __restrict__ qRows,
    act_t* __restrict__ out, int outStride, int numSplits) {
  const int h = blockIdx.x, seq = blockIdx.y, d = threadIdx.x;
  const int kvh = h / GROUP, g = h % GROUP;
  const size_t base = ((size_t)seq * NUM_KV_HEADS + kvh) * numSplits;
  float m = NEG_INF;
  for (int s = 0; s < numSplits; s++) m = fmaxf(m, partialMax[(base + s) * GROUP + g]);
  float l = 0.f, o = 0.f;
  for (int s = 0; s < numSplits; s++) {
    const float ms = partialMax[(base + s) * GROUP + g];
    if (ms == NEG_INF) continue;
    const float w = exp2f(ms - m);
    l += partialSum[(base + s) * GROUP + g] * w;
    o += partialOut[((base + s) * GROUP + g) * HEAD_DIM + d] * w;
  }
  out[(size_t)qRows[seq] * outStride + h * HEAD_DIM + d] = f32_to_act(o / l);
}

// Version 2: one pass over K and V with an online softmax (no score array, no block-wide
// reductions), and a split length that adapts to each sequence: split `s` of a sequence with
// `ctx` tokens covers [s·per, min((s+1)·per, ctx)) with per = max(minSplit, ceil(ctx / numSplits)),
// so a graph captured for any context keeps every split busy and empty splits exit at once
// (they write only max = -inf and sum = 0, which attention_decode_combine skips). Each of the
// TOKENS_PER_PASS lane groups walks its tokens two at a time with the next pair's K and V loads
// issued before the current pair is used. Same partial-output format as attention_decode.
#define V2_U 2
extern "C" __global__ void __launch_bounds__(THREADS) attention_decode_v2(const act_t* __restrict__ q,
    int qStride, const int* __restrict__ qRows, const kv_t* __restrict__ kCache,
    const kv_t* __restrict__ vCache, const int* __restrict__ blockTables, int maxBlocksPerSeq,
    const int* __restrict__ contextLens, float scale, float* __restrict__ partialOut,
    float* __restrict__ partialMax, float* __restrict__ partialSum, int numSplits, int minSplit, float kScale, float vScale) {
  __shared__ float red[TOKENS_PER_PASS][GROUP][HEAD_DIM];
  __shared__ float mstat[TOKENS_PER_PASS][GROUP];
  __shared__ float lstat[TOKENS_PER_PASS][GROUP];
  const int split = blockIdx.x, kvh = blockIdx.y, seq = blockIdx.z;
  const int ctx = contextLens[seq];
  const int per = max(minSplit, (ctx + numSplits - 1) / numSplits);
  const int start = split * per, end = min(start + per, ctx);
  const size_t pidx = ((size_t)seq * NUM_KV_HEADS + kvh) * numSplits + split;
  if (start >= end) {
    if (threadIdx.x < GROUP) { partialMax[pidx * GROUP + threadIdx.x] = NEG_INF; partialSum[pidx * GROUP + threadIdx.x] = 0.f; }
    return;
  }
  const float qscale = scale * 1.4426950408889634f;  // scores in log2 units: exp2 later
  const int* table = blockTables + (size_t)seq * maxBlocksPerSeq;
  const int lane = threadIdx.x % LANES_PER_TOKEN, tok = threadIdx.x / LANES_PER_TOKEN;
  const act_t* qrow = q + (size_t)qRows[seq] * qStride + kvh * GROUP * HEAD_DIM + lane * 8;
  float qreg[GROUP][8];
#pragma unroll
  for (int g = 0; g < GROUP; g++) {
#pragma unroll
    for (int j = 0; j < 8; j++) qreg[g][j] = act_to_f32(qrow[g * HEAD_DIM + j]) * qscale;
  }
  float m[GROUP], l[GROUP], acc[GROUP][8];
#pragma unroll
  for (int g = 0; g < GROUP; g++) {
    m[g] = NEG_INF; l[g] = 0.f;
#pragma unroll
    for (int j = 0; j < 8; j++) acc[g][j] = 0.f;
  }
  const int step = TOKENS_PER_PASS * V2_U;
  float kc[V2_U][8], vc[V2_U][8];
#pragma unroll
  for (int u = 0; u < V2_U; u++) {
    const int t = start + tok + u * TOKENS_PER_PASS;
    if (t < end) { load8_kv(kv_row(kCache, table, t, kvh) + lane * 8, kc[u], kScale); load8_kv(kv_row(vCache, table, t, kvh) + lane * 8, vc[u], vScale); }
    else {
#pragma unroll
      for (int j = 0; j < 8; j++) { kc[u][j] = 0.f; vc[u][j] = 0.f; }
    }
  }
  // Loop bounds are the same for every thread: the shuffles below need the whole warp.
  for (int base = start; base < end; base += step) {
    float kn[V2_U][8], vn[V2_U][8];
#pragma unroll
    for (int u = 0; u < V2_U; u++) {
      const int t = base + step + tok + u * TOKENS_PER_PASS;
      if (t < end) { load8_kv(kv_row(kCache, table, t, kvh) + lane * 8, kn[u], kScale); load8_kv(kv_row(vCache, table, t, kvh) + lane * 8, vn[u], vScale); }
      else {
#pragma unroll
        for (int j = 0; j < 8; j++) { kn[u][j] = 0.f; vn[u][j] = 0.f; }
      }
    }
#pragma unroll
    for (int g = 0; g < GROUP; g++) {
      float s[V2_U];
      float mx = m[g];
#pragma unroll
      for (int u = 0; u < V2_U; u++) {
        float d = 0.f;
#pragma unroll
        for (int j = 0; j < 8; j++) d += qreg[g][j] * kc[u][j];
#pragma unroll
        for (int o = LANES_PER_TOKEN / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
        s[u] = (base + tok + u * TOKENS_PER_PASS < end) ? d : NEG_INF;
        mx = fmaxf(mx, s[u]);
      }
      if (mx != NEG_INF) {
        const float corr = exp2f(m[g] - mx);
        l[g] *= corr;
#pragma unroll
        for (int j = 0; j < 8; j++) acc[g][j] *= corr;
#pragma unroll
        for (int u = 0; u < V2_U; u++) {
          const float p = exp2f(s[u] - mx);
          l[g] += p;
#pragma unroll
          for (int j = 0; j < 8; j++) acc[g][j] += p * vc[u][j];
        }
        m[g] = mx;
      }
    }
#pragma unroll
    for (int u = 0; u < V2_U; u++) {
#pragma unroll
      for (int j = 0; j < 8; j++) { kc[u][j] = kn[u][j]; vc[u][j] = vn[u][j]; }
    }
  }
#pragma unroll
  for (int g = 0; g < GROUP; g++) {
#pragma unroll
    for (int j = 0; j < 8; j++) red[tok][g][lane * 8 + j] = acc[g][j];
    if (lane == 0) { mstat[tok][g] = m[g]; lstat[tok][g] = l[g]; }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < GROUP * HEAD_DIM; i += THREADS) {
    const int g = i / HEAD_DIM, d = i % HEAD_DIM;
    float M = NEG_INF;
#pragma unroll
    for (int w = 0; w < TOKENS_PER_PASS; w++) M = fmaxf(M, mstat[w][g]);
    float o = 0.f, L = 0.f;
#pragma unroll
    for (int w = 0; w < TOKENS_PER_PASS; w++) {
      const float mw = mstat[w][g];
      if (mw == NEG_INF) continue;
      const float e = exp2f(mw - M);
      o += red[w][g][d] * e;
      L += lstat[w][g] * e;
    }
    partialOut[pidx * GROUP * HEAD_DIM + i] = o;
    if (d == 0) { partialMax[pidx * GROUP + g] = M; partialSum[pidx * GROUP + g] = L; }
  }
}
