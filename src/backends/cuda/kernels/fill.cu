// Dummy weights (`--load_format dummy`): out[i] = act(mean + std * N(0,1)), the normal drawn by
// Box-Muller from two 32-bit hashes of (2i, 2i+1) and the tensor's seed — the same formula as
// backends/dummy-weights.ts, so CPU and GPU engines hold the same weights
// (rounded to the engine's activation dtype: bf16, or fp16 with ACT_F16). Grid-stride loop.
__device__ __forceinline__ uint32_t fmix32(uint32_t h) {
  h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u; h ^= h >> 16;
  return h;
}

__device__ __forceinline__ float hash_uniform(uint32_t x, uint32_t seed) {
  return ((float)(fmix32((x * 0x9e3779b1u) ^ seed) >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

extern "C" __global__ void __launch_bounds__(256) fill_normal(act_t* __restrict__ out, unsigned long long n,
    unsigned int seed, float mean, float stddev) {
  for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (unsigned long long)gridDim.x * blockDim.x) {
    float v = mean;
    if (stddev != 0.f) {
      const float u1 = hash_uniform((uint32_t)(2 * i), seed), u2 = hash_uniform((uint32_t)(2 * i + 1), seed);
      v += stddev * sqrtf(-2.f * logf(u1)) * cosf(6.283185307179586f * u2);
    }
    out[i] = f32_to_act(v);
  }
}
