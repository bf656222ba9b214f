// Residual add fused with RMSNorm, as HF Llama computes it in the activation dtype (act = bf16 or fp16):
//   r = act(x + residual); residual <- r; out = act(weight * act(r * rsqrt(mean(r^2) + eps)))
// with the mean accumulated in f32. residual == nullptr gives plain RMSNorm of x.
// Needs HIDDEN (a multiple of 8) and THREADS. One block per token; 16-byte loads kept in registers.
#define RMS_VECS (HIDDEN / 8)
#define RMS_VPT ((RMS_VECS + THREADS - 1) / THREADS)

extern "C" __global__ void __launch_bounds__(THREADS) add_rmsnorm(const act_t* __restrict__ x,
    act_t* residual, const act_t* __restrict__ weight, act_t* out, float eps, int numTokens) {
  __shared__ float scratch[32];
  const int t = blockIdx.x;
  if (t >= numTokens) return;
  const size_t row = (size_t)t * HIDDEN;
  float v[RMS_VPT][8];
  float ss = 0.f;
#pragma unroll
  for (int i = 0; i < RMS_VPT; i++) {
    const int idx = threadIdx.x + i * THREADS;
    if (idx < RMS_VECS) {
      load8_act(x + row + idx * 8, v[i]);
      if (residual != nullptr) {
        float r[8];
        load8_act(residual + row + idx * 8, r);
#pragma unroll
        for (int j = 0; j < 8; j++) v[i][j] = round_act(v[i][j] + r[j]);
        store8_act(residual + row + idx * 8, v[i]);
      }
#pragma unroll
      for (int j = 0; j < 8; j++) ss += v[i][j] * v[i][j];
    }
  }
  ss = block_sum(ss, scratch);
  const float inv = rsqrtf(ss / (float)HIDDEN + eps);
#pragma unroll
  for (int i = 0; i < RMS_VPT; i++) {
    const int idx = threadIdx.x + i * THREADS;
    if (idx < RMS_VECS) {
      float w[8], o[8];
      load8_act(weight + idx * 8, w);
#pragma unroll
      for (int j = 0; j < 8; j++) o[j] = w[j] * round_act(v[i][j] * inv);
      store8_act(out + row + idx * 8, o);
    }
  }
}
