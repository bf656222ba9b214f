// Shared helpers for every Kiln kernel. Self-contained (no CUDA headers), so NVRTC needs no include
// path: 16-bit floats are stored as raw words and converted with round-to-nearest-even.
//
// Activation dtype contract: `act_t` is the 16-bit storage word of an activation (and of a weight the
// kernels read), bf16 when ACT_F16 is 0 (the default) and IEEE fp16 when ACT_F16 is 1. Kernels read
// and write activations only through act_to_f32 / f32_to_act / pack_act2 / unpack_act2 / load8_act /
// store8_act. The bf16_* names below always mean bf16, whatever ACT_F16 says.
// KV cache element type: `kv_t` is act_t, or an fp8 e4m3 code (one byte) when KV_FP8 is 1; then
// stored = fp8(x / scale), read = fp8 · scale, with per-layer scales passed to the kernels.
#ifndef ACT_F16
#define ACT_F16 0
#endif
#ifndef KV_FP8
#define KV_FP8 0
#endif
#define NEG_INF __int_as_float(0xff800000)
typedef unsigned short bf16_t;
typedef unsigned short f16_t;
typedef unsigned short act_t;
typedef unsigned char fp8_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;

__device__ __forceinline__ float bf16_to_f32(bf16_t v) { return __uint_as_float(((unsigned int)v) << 16); }

__device__ __forceinline__ bf16_t f32_to_bf16(float f) {
  unsigned int x = __float_as_uint(f);
  if ((x & 0x7f800000u) == 0x7f800000u && (x & 0x007fffffu) != 0u) return (bf16_t)((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return (bf16_t)(x >> 16);
}

// IEEE fp16 through the PTX conversions (RNE; overflow gives ±inf, as graph/dtype.ts f32ToF16Bits).
__device__ __forceinline__ float f16_to_f32(f16_t v) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v));
  return f;
}

__device__ __forceinline__ f16_t f32_to_f16(float f) {
  f16_t h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
}

// Two floats → packed bf16x2 (lo in the low half), as the tensor-core operands want.
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  return (uint32_t)f32_to_bf16(lo) | ((uint32_t)f32_to_bf16(hi) << 16);
}

__device__ __forceinline__ float2 unpack_bf16x2(uint32_t v) {
  return make_float2(__uint_as_float(v << 16), __uint_as_float(v & 0xffff0000u));
}

__device__ __forceinline__ uint32_t pack_f16x2(float lo, float hi) {
  uint32_t r;
  asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));  // first source → upper half
  return r;
}

__device__ __forceinline__ float2 unpack_f16x2(uint32_t v) {
  return make_float2(f16_to_f32((f16_t)(v & 0xffffu)), f16_to_f32((f16_t)(v >> 16)));
}

// 8 bf16 (one 16-byte load) → 8 floats.
__device__ __forceinline__ void load8(const bf16_t* p, float* out) {
  uint4 v = *reinterpret_cast<const uint4*>(p);
  float2 a = unpack_bf16x2(v.x), b = unpack_bf16x2(v.y), c = unpack_bf16x2(v.z), d = unpack_bf16x2(v.w);
  out[0] = a.x; out[1] = a.y; out[2] = b.x; out[3] = b.y; out[4] = c.x; out[5] = c.y; out[6] = d.x; out[7] = d.y;
}

__device__ __forceinline__ void store8(bf16_t* p, const float* v) {
  uint4 o;
  o.x = pack_bf16x2(v[0], v[1]); o.y = pack_bf16x2(v[2], v[3]);
  o.z = pack_bf16x2(v[4], v[5]); o.w = pack_bf16x2(v[6], v[7]);
  *reinterpret_cast<uint4*>(p) = o;
}

// ---- the activation dtype (ACT_F16) ----
__device__ __forceinline__ float act_to_f32(act_t v) {
#if ACT_F16
  return f16_to_f32(v);
#else
  return bf16_to_f32(v);
#endif
}

__device__ __forceinline__ act_t f32_to_act(float f) {
#if ACT_F16
  return f32_to_f16(f);
#else
  return f32_to_bf16(f);
#endif
}

// Rounds a float to the activation dtype and back (what storing and reloading it gives).
__device__ __forceinline__ float round_act(float f) { return act_to_f32(f32_to_act(f)); }

__device__ __forceinline__ uint32_t pack_act2(float lo, float hi) {
#if ACT_F16
  return pack_f16x2(lo, hi);
#else
  return pack_bf16x2(lo, hi);
#endif
}

__device__ __forceinline__ float2 unpack_act2(uint32_t v) {
#if ACT_F16
  return unpack_f16x2(v);
#else
  return unpack_bf16x2(v);
#endif
}

// 8 activations (one 16-byte load) → 8 floats, and back.
__device__ __forceinline__ void load8_act(const act_t* p, float* out) {
  uint4 v = *reinterpret_cast<const uint4*>(p);
  float2 a = unpack_act2(v.x), b = unpack_act2(v.y), c = unpack_act2(v.z), d = unpack_act2(v.w);
  out[0] = a.x; out[1] = a.y; out[2] = b.x; out[3] = b.y; out[4] = c.x; out[5] = c.y; out[6] = d.x; out[7] = d.y;
}

__device__ __forceinline__ void store8_act(act_t* p, const float* v) {
  uint4 o;
  o.x = pack_act2(v[0], v[1]); o.y = pack_act2(v[2], v[3]);
  o.z = pack_act2(v[4], v[5]); o.w = pack_act2(v[6], v[7]);
  *reinterpret_cast<uint4*>(p) = o;
}

// ---- fp8 e4m3 (OCP "fn": max 448, no infinities) ----
// f32 → e4m3 code with round-to-nearest-even, saturating to ±448, NaN → 0x7f: exactly
// graph/dtype.ts f32ToFp8e4m3Bits. Below 2^-6 the codes are subnormal (steps of 2^-9).
__device__ __forceinline__ unsigned char f32_to_fp8e4m3(float f) {
  const unsigned int x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return 0x7f;
  const unsigned int sign = (x >> 24) & 0x80u;
  const float a = fminf(__uint_as_float(x & 0x7fffffffu), 448.f);
  if (a < 0.015625f) return (unsigned char)(sign | (unsigned int)__float2int_rn(a * 512.f));
  const unsigned int ax = __float_as_uint(a);
  const unsigned int m = ax & 0x7fffffu;
  const unsigned int r = m + 0x7ffffu + ((m >> 20) & 1u);  // RNE to 3 mantissa bits; a carry bumps the exponent
  const unsigned int code = (((ax >> 23) - 120u) << 3) + (r >> 20);
  return (unsigned char)(sign | min(code, 0x7eu));
}

// e4m3 code → f32 (exact): normal codes put their 7 magnitude bits under an f32 exponent and rescale
// by 2^120; subnormal codes (exponent 0) are mantissa · 2^-9 (no f32 denormals, so FTZ cannot bite).
// 0x7f/0xff (NaN, never written by f32_to_fp8e4m3 for finite input) read as ±480.
__device__ __forceinline__ float fp8e4m3_to_f32(unsigned char b) {
  const unsigned int mag = b & 0x7fu;
  const float v = mag >= 8u ? __uint_as_float(mag << 20) * __uint_as_float(0x7b800000u) : (float)mag * 0.001953125f;
  return (b & 0x80u) ? -v : v;
}

// Four floats → four e4m3 codes of x / scale, packed little-endian into a word.
__device__ __forceinline__ uint32_t pack_fp8x4(float a, float b, float c, float d, float scale) {
  return (uint32_t)f32_to_fp8e4m3(a / scale) | ((uint32_t)f32_to_fp8e4m3(b / scale) << 8) |
         ((uint32_t)f32_to_fp8e4m3(c / scale) << 16) | ((uint32_t)f32_to_fp8e4m3(d / scale) << 24);
}

// ---- the KV cache element (KV_FP8) ----
#if KV_FP8
typedef fp8_t kv_t;
#else
typedef act_t kv_t;
#endif

// 8 KV elements → 8 floats (fp8: dequantized with `scale`; 16-bit: `scale` ignored).
__device__ __forceinline__ void load8_kv(const kv_t* p, float* out, float scale) {
#if KV_FP8
  const uint2 v = *reinterpret_cast<const uint2*>(p);
#pragma unroll
  for (int j = 0; j < 4; j++) {
    out[j] = fp8e4m3_to_f32((unsigned char)(v.x >> (8 * j))) * scale;
    out[4 + j] = fp8e4m3_to_f32((unsigned char)(v.y >> (8 * j))) * scale;
  }
#else
  (void)scale;
  load8_act(p, out);
#endif
}

// 8 floats → 8 KV elements (fp8: codes of x / scale).
__device__ __forceinline__ void store8_kv(kv_t* p, const float* v, float scale) {
#if KV_FP8
  uint2 o;
  o.x = pack_fp8x4(v[0], v[1], v[2], v[3], scale);
  o.y = pack_fp8x4(v[4], v[5], v[6], v[7], scale);
  *reinterpret_cast<uint2*>(p) = o;
#else
  (void)scale;
  store8_act(p, v);
#endif
}

__device__ __forceinline__ kv_t f32_to_kv(float f, float scale) {
#if KV_FP8
  return f32_to_fp8e4m3(f / scale);
#else
  (void)scale;
  return f32_to_act(f);
#endif
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum; every thread gets the result. `scratch` holds >= 32 floats.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < nwarps ? scratch[lane] : 0.f;
  return warp_sum(r);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < nwarps ? scratch[lane] : NEG_INF;
  return warp_max(r);
}
