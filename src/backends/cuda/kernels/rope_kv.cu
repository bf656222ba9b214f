// RoPE (HF rotate_half layout) on q and k, fused with writing k and v into the paged KV cache.
// Cache layout: [numBlocks, TOKENS_PER_BLOCK, NUM_KV_HEADS, HEAD_DIM] of kv_t; token t goes to slot
// slotMapping[t] = block * TOKENS_PER_BLOCK + offset (slot < 0: not written, e.g. padding).
// invFreq[HEAD_DIM/2] is computed on the host (default, linear or llama3 scaling), angles in f32.
// q is rotated from q (row stride qStride) into qOut (may alias q). k/v are read with their own strides,
// so they can point into a fused qkv activation. One block per token. With KV_FP8 the cache holds
// e4m3 codes of x / kScale (keys, after RoPE in f32) and x / vScale (values); otherwise the scales
// are ignored and the cache holds activations.
#define HALF_DIM (HEAD_DIM / 2)

extern "C" __global__ void __launch_bounds__(128) rope_write_kv(const act_t* q, int qStride,
    const act_t* __restrict__ k, int kStride, const act_t* __restrict__ v, int vStride,
    const int* __restrict__ positions, const int* __restrict__ slotMapping, const float* __restrict__ invFreq,
    act_t* qOut, int qOutStride, kv_t* __restrict__ kCache, kv_t* __restrict__ vCache, int numTokens,
    float kScale, float vScale) {
  const int t = blockIdx.x;
  if (t >= numTokens) return;
  const float pos = (float)positions[t];
  const int slot = slotMapping[t];
  const size_t cacheRow = (size_t)slot * NUM_KV_HEADS * HEAD_DIM;
  const int numPairs = (NUM_HEADS + NUM_KV_HEADS) * HALF_DIM;
  for (int p = threadIdx.x; p < numPairs; p += blockDim.x) {
    const int head = p / HALF_DIM, i = p % HALF_DIM;
    float s, c;
    sincosf(pos * invFreq[i], &s, &c);
    if (head < NUM_HEADS) {
      const act_t* src = q + (size_t)t * qStride + head * HEAD_DIM;
      const float x1 = act_to_f32(src[i]), x2 = act_to_f32(src[i + HALF_DIM]);
      act_t* dst = qOut + (size_t)t * qOutStride + head * HEAD_DIM;
      dst[i] = f32_to_act(x1 * c - x2 * s);
      dst[i + HALF_DIM] = f32_to_act(x2 * c + x1 * s);
    } else if (slot >= 0) {
      const int kh = head - NUM_HEADS;
      const act_t* src = k + (size_t)t * kStride + kh * HEAD_DIM;
      const float x1 = act_to_f32(src[i]), x2 = act_to_f32(src[i + HALF_DIM]);
      kv_t* dst = kCache + cacheRow + kh * HEAD_DIM;
      dst[i] = f32_to_kv(x1 * c - x2 * s, kScale);
      dst[i + HALF_DIM] = f32_to_kv(x2 * c + x1 * s, kScale);
    }
  }
  if (slot < 0) return;
  for (int i = threadIdx.x; i < NUM_KV_HEADS * HEAD_DIM / 8; i += blockDim.x) {
    const int kh = i / (HEAD_DIM / 8), d = (i % (HEAD_DIM / 8)) * 8;
#if KV_FP8
    float x[8];
    load8_act(v + (size_t)t * vStride + kh * HEAD_DIM + d, x);
    store8_kv(vCache + cacheRow + kh * HEAD_DIM + d, x, vScale);
#else
    (void)vScale;
    *reinterpret_cast<uint4*>(vCache + cacheRow + kh * HEAD_DIM + d) =
        *reinterpret_cast<const uint4*>(v + (size_t)t * vStride + kh * HEAD_DIM + d);
#endif
  }
}
