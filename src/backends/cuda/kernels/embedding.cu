// Embedding gather: out[t, :] = table[ids[t], :]. Needs HIDDEN (a multiple of 8).
// One block per token, 16-byte copies. An id outside [0, vocab) writes zeros (the runtime validates ids).
#define EMB_VECS (HIDDEN / 8)

extern "C" __global__ void __launch_bounds__(256) embedding(const int* __restrict__ ids,
    const act_t* __restrict__ table, act_t* __restrict__ out, int numTokens, int vocab) {
  const int t = blockIdx.x;
  if (t >= numTokens) return;
  const int id = ids[t];
  uint4* dst = reinterpret_cast<uint4*>(out + (size_t)t * HIDDEN);
  if (id < 0 || id >= vocab) {
    for (int i = threadIdx.x; i < EMB_VECS; i += blockDim.x) dst[i] = make_uint4(0u, 0u, 0u, 0u);
    return;
  }
  const uint4* src = reinterpret_cast<const uint4*>(table + (size_t)id * HIDDEN);
  for (int i = threadIdx.x; i < EMB_VECS; i += blockDim.x) dst[i] = src[i];
}
