// SwiGLU gate: out[t, i] = act(act(silu(gate[t, i])) * up[t, i]) over a merged input [T, 2*INTER]
// (gate first, then up), as HF computes act_fn(gate) * up in the activation dtype. Needs INTER (a multiple of 8).
// Grid (ceil(INTER / 8 / 256), T), 256 threads, 16-byte loads.
extern "C" __global__ void __launch_bounds__(256) silu_mul(const act_t* __restrict__ gateUp,
    act_t* __restrict__ out, int numTokens) {
  const int t = blockIdx.y;
  const int i = (blockIdx.x * blockDim.x + threadIdx.x) * 8;
  if (t >= numTokens || i >= INTER) return;
  float g[8], u[8], o[8];
  load8_act(gateUp + (size_t)t * 2 * INTER + i, g);
  load8_act(gateUp + (size_t)t * 2 * INTER + INTER + i, u);
#pragma unroll
  for (int j = 0; j < 8; j++) {
    const float s = round_act(g[j] / (1.f + expf(-g[j])));
    o[j] = s * u[j];
  }
  store8_act(out + (size_t)t * INTER + i, o);
}
