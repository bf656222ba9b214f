// FP8 (W8A8) helpers around the cuBLASLt FP8 GEMM, and the dummy-weight fills of quantized weights.
//   quantize_fp8_rows: x act [rows, K] → e4m3 codes [rows, K] and the per-row scale a (f32):
//     static: a = *input_scale; dynamic: a = amax(row) / 448 (1 for an all-zero row).
//     code = e4m3_rne_satfinite(x / a) — the rounding of quant/numerics.ts (fp8QuantDequant).
//   fp8_rescale: out[m, n] *= row_scale[m · row_step] · col_scale[n · col_step] (in place, act or f32).
//   fill_quant_bytes / fill_f32: seeded random quantized codes and constant scales (backends/dummy-weights.ts).
typedef unsigned char u8_t;

// Two floats → two e4m3 codes (lo in the low byte), round-to-nearest-even, saturating to ±448.
__device__ __forceinline__ unsigned short f32x2_to_e4m3x2(float lo, float hi) {
#if __CUDA_ARCH__ >= 890
  unsigned short r;
  asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(hi), "f"(lo));
  return r;
#else
  __trap();
  return 0;
#endif
}

// One block per row; K % 8 == 0 (the plan requires K % 16 for the FP8 GEMM).
extern "C" __global__ void __launch_bounds__(256) quantize_fp8_rows(const act_t* __restrict__ x, int k,
    u8_t* __restrict__ codes, float* __restrict__ row_scale, const float* __restrict__ static_scale) {
  __shared__ float red[32];
  const int row = blockIdx.x;
  const act_t* xr = x + (size_t)row * k;
  float a;
  if (static_scale != nullptr) {
    a = *static_scale;
  } else {
    float m = 0.f;
    for (int c = threadIdx.x * 8; c < k; c += blockDim.x * 8) {
      float v[8];
      load8_act(xr + c, v);
#pragma unroll
      for (int i = 0; i < 8; i++) m = fmaxf(m, fabsf(v[i]));
    }
    m = block_max(m, red);
    a = m > 0.f ? __fdiv_rn(m, 448.f) : 1.f;
  }
  if (threadIdx.x == 0) row_scale[row] = a;
  u8_t* out = codes + (size_t)row * k;
  for (int c = threadIdx.x * 8; c < k; c += blockDim.x * 8) {
    float v[8];
    load8_act(xr + c, v);
    uint2 o;
    o.x = (uint32_t)f32x2_to_e4m3x2(__fdiv_rn(v[0], a), __fdiv_rn(v[1], a)) | ((uint32_t)f32x2_to_e4m3x2(__fdiv_rn(v[2], a), __fdiv_rn(v[3], a)) << 16);
    o.y = (uint32_t)f32x2_to_e4m3x2(__fdiv_rn(v[4], a), __fdiv_rn(v[5], a)) | ((uint32_t)f32x2_to_e4m3x2(__fdiv_rn(v[6], a), __fdiv_rn(v[7], a)) << 16);
    *reinterpret_cast<uint2*>(out + c) = o;
  }
}

// grid (ceil(n / 256), rows); out is act_t (out_f32 = 0) or float [rows, n], rewritten in place.
extern "C" __global__ void __launch_bounds__(256) fp8_rescale(void* __restrict__ out, int n, int out_f32,
    const float* __restrict__ row_scale, int row_step, const float* __restrict__ col_scale, int col_step) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= n) return;
  const int row = blockIdx.y;
  const float s = row_scale[row * row_step] * (col_scale != nullptr ? col_scale[col * col_step] : 1.f);
  const size_t i = (size_t)row * n + col;
  if (out_f32) {
    float* o = reinterpret_cast<float*>(out);
    o[i] = o[i] * s;
  } else {
    act_t* o = reinterpret_cast<act_t*>(out);
    o[i] = f32_to_act(act_to_f32(o[i]) * s);
  }
}

__device__ __forceinline__ uint32_t q_fmix32(uint32_t h) {
  h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u; h ^= h >> 16;
  return h;
}

__device__ __forceinline__ float q_uniform(uint32_t x, uint32_t seed) {
  return ((float)(q_fmix32((x * 0x9e3779b1u) ^ seed) >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

// The standard normal of element j (Box-Muller on the uniforms of 2j and 2j + 1), as fill.cu draws it.
__device__ __forceinline__ float q_normal(unsigned long long j, uint32_t seed) {
  const float u1 = q_uniform((uint32_t)(2 * j), seed), u2 = q_uniform((uint32_t)(2 * j + 1), seed);
  return sqrtf(-2.f * logf(u1)) * cosf(6.283185307179586f * u2);
}

// Seeded random codes: mode 0 e4m3(z · mul); 1 int8 clamp(rne(z · mul), ±127);
// 2 packed int4: byte i holds u(2i) | u(2i + 1) << 4 with u = clamp(rne(z · mul), −8, 7) + 8.
extern "C" __global__ void __launch_bounds__(256) fill_quant_bytes(u8_t* __restrict__ out, unsigned long long n,
    unsigned int seed, int mode, float mul) {
  for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (unsigned long long)gridDim.x * blockDim.x) {
    u8_t b;
    if (mode == 0) {
      b = (u8_t)(f32x2_to_e4m3x2(q_normal(i, seed) * mul, 0.f) & 0xff);
    } else if (mode == 1) {
      b = (u8_t)(signed char)fminf(127.f, fmaxf(-127.f, rintf(q_normal(i, seed) * mul)));
    } else {
      const int lo = (int)fminf(7.f, fmaxf(-8.f, rintf(q_normal(2 * i, seed) * mul))) + 8;
      const int hi = (int)fminf(7.f, fmaxf(-8.f, rintf(q_normal(2 * i + 1, seed) * mul))) + 8;
      b = (u8_t)(lo | (hi << 4));
    }
    out[i] = b;
  }
}

extern "C" __global__ void __launch_bounds__(256) fill_f32(float* __restrict__ out, unsigned long long n, float value) {
  for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (unsigned long long)gridDim.x * blockDim.x) out[i] = value;
}

// Elementwise ops the quantized graphs keep unfused (their projections are not merged, so gate/up and
// biases stay separate nodes). grid (ceil(cols / 256), rows); row strides in elements.
//   silu_rows: out = silu(x);  binary_rows: out = a (+ or ·) b, b broadcast over rows when b_stride is 0.
extern "C" __global__ void __launch_bounds__(256) silu_rows(const act_t* __restrict__ x, int x_stride, act_t* __restrict__ out, int cols) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  const float v = act_to_f32(x[(size_t)blockIdx.y * x_stride + c]);
  out[(size_t)blockIdx.y * cols + c] = f32_to_act(v / (1.f + __expf(-v)));
}

extern "C" __global__ void __launch_bounds__(256) binary_rows(const act_t* __restrict__ a, int a_stride, const act_t* __restrict__ b,
    int b_stride, act_t* __restrict__ out, int cols, int is_mul) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  const float x = act_to_f32(a[(size_t)blockIdx.y * a_stride + c]), y = act_to_f32(b[(size_t)blockIdx.y * b_stride + c]);
  out[(size_t)blockIdx.y * cols + c] = f32_to_act(is_mul ? x * y : x + y);
}
