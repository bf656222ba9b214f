// Token selection on the GPU; only token ids go back to the host. One block of 1024 threads per row
// of float32 logits [numRows, vocab].
//  - argmax_rows: greedy, ties to the lowest id (as torch.argmax).
//  - sample_rows: temperature, then top-k, then top-p (HF order), seeded. The k-th largest logit is
//    found exactly by bisection over the order-preserving uint32 image of the floats; the top-p cut
//    is the largest threshold whose kept mass is >= topP of the top-k mass (the smallest top set
//    reaching topP, as HF's TopPLogitsWarper keeps), then min-p. The draw's uniform u in [0, 1) comes
//    per row from the host (the runtime's counter-based PRNG keyed by seed, sample, step) and picks
//    the token by an index-ordered prefix scan of the kept weights exp((x - max) / T).
//    temperature <= 0 means greedy; topK <= 0 or >= vocab disables top-k; topP >= 1 disables top-p;
//    minP <= 0 disables min-p.
#define SAMPLE_THREADS 1024

__device__ __forceinline__ uint32_t order_key(float f) {
  const uint32_t b = __float_as_uint(f);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// Block argmax; all threads get the id. Ties → lowest id.
__device__ int block_argmax(const float* row, int vocab) {
  __shared__ float sv[32];
  __shared__ int si[32];
  float best = NEG_INF;
  int bi = 0x7fffffff;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = row[i];
    if (v > best || (v == best && i < bi)) { best = v; bi = i; }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, best, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (ov > best || (ov == best && oi < bi)) { best = ov; bi = oi; }
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) { sv[warp] = best; si[warp] = bi; }
  __syncthreads();
  if (warp == 0) {
    best = lane < (int)(blockDim.x >> 5) ? sv[lane] : NEG_INF;
    bi = lane < (int)(blockDim.x >> 5) ? si[lane] : 0x7fffffff;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, best, o);
      const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (ov > best || (ov == best && oi < bi)) { best = ov; bi = oi; }
    }
    if (lane == 0) si[0] = bi;
  }
  __syncthreads();
  return si[0];
}

extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) argmax_rows(const float* __restrict__ logits, int vocab,
                                                                        int* __restrict__ out) {
  const int id = block_argmax(logits + (size_t)blockIdx.x * vocab, vocab);
  if (threadIdx.x == 0) out[blockIdx.x] = id;
}

__device__ float kept_mass(const float* row, int vocab, uint32_t threshold, float mx, float invT, float* scratch) {
  float s = 0.f;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = row[i];
    if (order_key(v) >= threshold) s += expf((v - mx) * invT);
  }
  return block_sum(s, scratch);
}

// Exact key of the k-th largest logit: a radix select over the order-preserving keys, 8 bits per pass.
__device__ uint32_t topk_threshold(const float* row, int vocab, int k) {
  __shared__ int hist[256];
  __shared__ uint32_t sPrefix;
  __shared__ int sRemaining;
  uint32_t prefix = 0u, mask = 0u;
  int remaining = k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += blockDim.x) hist[i] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
      const uint32_t key = order_key(row[i]);
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {  // the digit where the count from the top reaches `remaining`
      int cum = 0, d = 255;
      for (; d > 0; d--) { if (cum + hist[d] >= remaining) break; cum += hist[d]; }
      sPrefix = prefix | ((uint32_t)d << shift);
      sRemaining = remaining - cum;
    }
    __syncthreads();
    prefix = sPrefix;
    remaining = sRemaining;
    mask |= 255u << shift;
  }
  return prefix;
}

// Copies the logits with key >= threshold into cand[] in vocabulary order (deterministic) and returns
// how many there are; when more than CAND_MAX, copies nothing (the caller works on the full row).
#define CAND_MAX 1024
__device__ int gather_candidates(const float* row, int vocab, uint32_t threshold, float* cand) {
  __shared__ int counts[SAMPLE_THREADS];
  const int chunk = (vocab + blockDim.x - 1) / blockDim.x;
  const int begin = threadIdx.x * chunk, end = min(begin + chunk, vocab);
  int n = 0;
  for (int i = begin; i < end; i++) n += order_key(row[i]) >= threshold ? 1 : 0;
  counts[threadIdx.x] = n;
  __syncthreads();
  for (int off = 1; off < (int)blockDim.x; off <<= 1) {
    const int add = threadIdx.x >= (unsigned)off ? counts[threadIdx.x - off] : 0;
    __syncthreads();
    counts[threadIdx.x] += add;
    __syncthreads();
  }
  const int total = counts[blockDim.x - 1];
  if (total <= CAND_MAX) {
    int pos = counts[threadIdx.x] - n;
    for (int i = begin; i < end; i++) {
      const float v = row[i];
      if (order_key(v) >= threshold) cand[pos++] = v;
    }
  }
  __syncthreads();
  return total;
}

__device__ uint32_t topp_threshold(const float* row, int vocab, uint32_t lo, uint32_t hi, float target, float mx,
                                   float invT, float* scratch) {
  while (lo < hi) {  // invariant: mass(key >= lo) >= target
    const uint32_t mid = lo + (uint32_t)(((uint64_t)hi - lo + 1ull) >> 1);
    if (kept_mass(row, vocab, mid, mx, invT, scratch) >= target) lo = mid; else hi = mid - 1u;
  }
  return lo;
}

// Picks the token where the running (index-ordered) kept mass passes u.
__device__ int draw(const float* row, int vocab, uint32_t threshold, float mx, float invT, float u, float* scratch) {
  __shared__ float prefix[SAMPLE_THREADS];
  __shared__ int chosen;
  const int chunk = (vocab + blockDim.x - 1) / blockDim.x;
  const int begin = threadIdx.x * chunk, end = min(begin + chunk, vocab);
  float local = 0.f;
  int last = -1;
  for (int i = begin; i < end; i++) {
    const float v = row[i];
    if (order_key(v) >= threshold && v != NEG_INF) { local += expf((v - mx) * invT); last = i; }  // -inf: suppressed
  }
  prefix[threadIdx.x] = local;
  if (threadIdx.x == 0) chosen = -1;
  __syncthreads();
  for (int off = 1; off < (int)blockDim.x; off <<= 1) {  // inclusive Hillis-Steele scan
    const float add = threadIdx.x >= (unsigned)off ? prefix[threadIdx.x - off] : 0.f;
    __syncthreads();
    prefix[threadIdx.x] += add;
    __syncthreads();
  }
  const float total = prefix[blockDim.x - 1];
  const float target = fminf(u * total, total * 0.99999994f);
  const float before = threadIdx.x > 0 ? prefix[threadIdx.x - 1] : 0.f;
  if (local > 0.f && target >= before && target < prefix[threadIdx.x]) {
    float run = before;
    int pick = last;
    for (int i = begin; i < end; i++) {
      const float v = row[i];
      if (order_key(v) < threshold || v == NEG_INF) continue;
      run += expf((v - mx) * invT);
      if (run > target) { pick = i; break; }
    }
    chosen = pick;
  }
  __syncthreads();
  if (chosen < 0) {  // rounding left target past every chunk: take the last kept token
    if (local > 0.f && prefix[threadIdx.x] >= total) atomicMax(&chosen, last);
    __syncthreads();
  }
  return chosen;
}

extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) sample_rows(const float* __restrict__ logits, int vocab,
    const float* __restrict__ temperature, const int* __restrict__ topK, const float* __restrict__ topP,
    const float* __restrict__ minP, const float* __restrict__ uniforms, int* __restrict__ out) {
  __shared__ float scratch[32];
  const int r = blockIdx.x;
  const float* row = logits + (size_t)r * vocab;
  const float temp = temperature[r];
  if (!(temp > 0.f)) {
    const int id = block_argmax(row, vocab);
    if (threadIdx.x == 0) out[r] = id;
    return;
  }
  const float invT = 1.f / temp;
  float m = NEG_INF;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) m = fmaxf(m, row[i]);
  const float mx = block_max(m, scratch);
  const int k = topK[r];
  uint32_t threshold = (k > 0 && k < vocab) ? topk_threshold(row, vocab, k) : 0u;
  const float p = topP[r];
  if (p < 1.f) {
    __shared__ float cand[CAND_MAX];
    const int n = gather_candidates(row, vocab, threshold, cand);
    // Bisection on the top-p cut: over the (few) top-k candidates in shared memory when they fit.
    const float* src = n <= CAND_MAX ? cand : row;
    const int len = n <= CAND_MAX ? n : vocab;
    const float mass = kept_mass(src, len, threshold, mx, invT, scratch);
    threshold = topp_threshold(src, len, threshold, order_key(mx), p * mass, mx, invT, scratch);
  }
  // min-p keeps x with exp((x - mx) / T) >= minP, i.e. x >= mx + T ln(minP): one more key threshold
  // (the top token's probability ratio is the same before and after top-k / top-p renormalise).
  const float mp = minP[r];
  if (mp > 0.f) threshold = max(threshold, order_key(mx + temp * logf(mp)));
  const float u = uniforms[r];
  const int id = draw(row, vocab, threshold, mx, invT, u, scratch);
  if (threadIdx.x == 0) out[r] = id;
}

// ---- Penalties and logprobs (the host sampler's semantics, src/runtime/sampling/sampler.ts) ----
// Per row r, entries rowStarts[r]..rowStarts[r+1] (CSR; each entry an int triple: token id,
// outCount = occurrences in the generated tokens, flags) list the row's distinct token ids; flags (bit 0: seen in prompt or output, for the
// repetition penalty; bit 1: suppressed, e.g. EOS before min_tokens). apply_penalties saves each
// listed logit in saved[entry] and rewrites it in place in the host's order and float64 arithmetic:
// repetition (x > 0 ? x / p : x * p), then x - presence - frequency * count, then -inf when suppressed.
// restore_penalized writes the saved raw logits back, so logprobs describe the model's raw logits.
#define PEN_SEEN 1
#define PEN_SUPPRESS 2

extern "C" __global__ void apply_penalties(float* __restrict__ logits, int vocab, const int* __restrict__ rowStarts,
    const int* __restrict__ entries, const double* __restrict__ rowParams, float* __restrict__ saved) {
  const int r = blockIdx.x;
  float* row = logits + (size_t)r * vocab;
  const double rep = rowParams[3 * r], pres = rowParams[3 * r + 1], freq = rowParams[3 * r + 2];
  for (int e = rowStarts[r] + threadIdx.x; e < rowStarts[r + 1]; e += blockDim.x) {
    const int t = entries[3 * e], c = entries[3 * e + 1], flags = entries[3 * e + 2];
    if (t < 0 || t >= vocab) continue;
    float x = row[t];
    saved[e] = x;
    if (rep != 1.0 && (flags & PEN_SEEN)) x = (float)(x > 0.f ? (double)x / rep : (double)x * rep);
    if ((pres != 0.0 || freq != 0.0) && c > 0) x = (float)((double)x - pres - freq * (double)c);
    if (flags & PEN_SUPPRESS) x = NEG_INF;
    row[t] = x;
  }
}

extern "C" __global__ void restore_penalized(float* __restrict__ logits, int vocab, const int* __restrict__ rowStarts,
    const int* __restrict__ entries, const float* __restrict__ saved) {
  const int r = blockIdx.x;
  float* row = logits + (size_t)r * vocab;
  for (int e = rowStarts[r] + threadIdx.x; e < rowStarts[r + 1]; e += blockDim.x) {
    const int t = entries[3 * e];
    if (t >= 0 && t < vocab) row[t] = saved[e];
  }
}

__device__ __forceinline__ double block_sum_f64(double v, double* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  double r = lane < nwarps ? scratch[lane] : 0.0;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) r += __shfl_xor_sync(0xffffffffu, r, o);
  return r;
}

// (v, i) comes before (bv, bi) in the order "larger value first, then lower id".
__device__ __forceinline__ bool ranks_before(float v, int i, float bv, int bi) {
  return v > bv || (v == bv && i < bi);
}

// The block's first element in that order among those strictly after (pv, pi); id -1 when none.
__device__ int block_next_top(const float* row, int vocab, float pv, int pi, float* sv, int* si) {
  float best = NEG_INF;
  int bi = 0x7fffffff;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = row[i];
    if (ranks_before(pv, pi, v, i) && ranks_before(v, i, best, bi)) { best = v; bi = i; }
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, best, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (ranks_before(ov, oi, best, bi)) { best = ov; bi = oi; }
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) { sv[warp] = best; si[warp] = bi; }
  __syncthreads();
  if (warp == 0) {
    best = lane < (int)(blockDim.x >> 5) ? sv[lane] : NEG_INF;
    bi = lane < (int)(blockDim.x >> 5) ? si[lane] : 0x7fffffff;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, best, o);
      const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (ranks_before(ov, oi, best, bi)) { best = ov; bi = oi; }
    }
    if (lane == 0) { sv[0] = best; si[0] = bi; }
  }
  __syncthreads();
  const int id = si[0];
  return id == 0x7fffffff ? -1 : id;
}

// Logprobs of the raw logits (log-softmax, float64 sum as the host's): for each row with
// numTop[r] >= 0, the chosen token's logprob and the numTop[r] (<= LOGPROBS_MAX) most likely ids,
// largest first, ties to the lower id; unused top slots get id -1.
#define LOGPROBS_MAX 20
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) row_logprobs(const float* __restrict__ logits, int vocab,
    const int* __restrict__ numTop, const int* __restrict__ chosen, float* __restrict__ chosenLp,
    int* __restrict__ topIds, float* __restrict__ topLps) {
  __shared__ float scratch[32];
  __shared__ double dscratch[32];
  __shared__ float sv[32];
  __shared__ int si[32];
  const int r = blockIdx.x;
  const int n = numTop[r];
  if (n < 0) return;
  const float* row = logits + (size_t)r * vocab;
  float m = NEG_INF;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) m = fmaxf(m, row[i]);
  const float mx = block_max(m, scratch);
  double s = 0.0;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) s += exp((double)row[i] - (double)mx);
  const double lse = (double)mx + log(block_sum_f64(s, dscratch));
  if (threadIdx.x == 0) chosenLp[r] = (float)((double)row[chosen[r]] - lse);
  float pv = __int_as_float(0x7f800000);
  int pi = -1;
  for (int k = 0; k < LOGPROBS_MAX; k++) {
    int id = -1;
    if (k < n) id = block_next_top(row, vocab, pv, pi, sv, si);
    if (threadIdx.x == 0) {
      topIds[r * LOGPROBS_MAX + k] = id;
      topLps[r * LOGPROBS_MAX + k] = id >= 0 ? (float)((double)row[id] - lse) : 0.f;
    }
    if (id < 0) continue;
    pv = row[id];
    pi = id;
  }
}
