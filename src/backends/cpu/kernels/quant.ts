/**
 * CPU reference kernels of the quantized GEMMs (numerics: quant/numerics.ts).
 *
 * fp8_matmul emulates the FP8 tensor-core path: x is quantized to fp8 codes per call (static
 * scale a, or per-token a_t = amax_t / 448), the products of decoded fp8 values (exact in f32)
 * are summed by the shared GEMM (float64 locals within K blocks of 2048, stored as f32), and the
 * sum is multiplied by a · s_w[n] once: out[t, n] = (Σ_k fp8(x_tk / a_t) · fp8(W_nk)) · a_t · s_n.
 * The weight codes arrive decoded to f32 once at load (backends/cpu/weights.ts), so no per-call
 * weight conversion happens.
 *
 * wo_matmul dequantizes the packed weight to f32 [N, K] on first use and keeps that copy (keyed
 * by the loaded qweight buffer, released with it): the CPU reference trades memory for simplicity;
 * the GPU kernels dequantize in registers instead. out = (x ⊙ pre_scale) · Wdeqᵀ.
 */
import { fp8e4m3BitsToF32, f32ToFp8e4m3Bits } from '../../../graph/dtype.js';
import type { NodeDef } from '../../../graph/types.js';
import { dequantizeWo, fp8ActivationScale, amaxOf, type WoBits } from '../../../quant/numerics.js';
import { f32, type Buf, type CpuData } from '../buffer.js';
import { matmulTransB } from './matmul.js';

const dequantized = new WeakMap<CpuData, Float32Array>();

function quantizeRows(x: Float32Array, m: number, k: number, staticScale: number | undefined): { codes: Float32Array; scales: Float32Array } {
  const codes = new Float32Array(m * k);
  const scales = new Float32Array(m);
  for (let t = 0; t < m; t++) {
    const a = staticScale ?? fp8ActivationScale(amaxOf(x, t * k, (t + 1) * k));
    scales[t] = a;
    for (let c = 0; c < k; c++) codes[t * k + c] = fp8e4m3BitsToF32(f32ToFp8e4m3Bits(Math.fround(x[t * k + c]! / a)));
  }
  return { codes, scales };
}

export function fp8MatmulKernel(x: readonly Buf[], node: NodeDef, outShapes: readonly number[][]): Buf[] {
  const a = x[0]!, w = x[1]!, ws = f32(x[2]!, 'fp8_matmul weight_scale');
  const isStatic = node.attrs['activationScale'] === 'static';
  const [n, k] = [w.shape[0]!, w.shape[1]!];
  const m = a.data.length / k;
  const staticScale = isStatic ? f32(x[3]!, 'fp8_matmul input_scale')[0]! : undefined;
  const { codes, scales } = quantizeRows(f32(a, 'fp8_matmul'), m, k, staticScale);
  const out = new Float32Array(m * n);
  matmulTransB(codes, f32(w, 'fp8_matmul qweight'), out, m, k, n);
  for (let t = 0; t < m; t++) {
    const at = scales[t]!;
    for (let j = 0; j < n; j++) out[t * n + j] = out[t * n + j]! * at * (ws.length === 1 ? ws[0]! : ws[j]!);
  }
  return [{ data: out, shape: outShapes[0]! }];
}

function dequantizedWeight(x: readonly Buf[], node: NodeDef, n: number, k: number): Float32Array {
  const qw = x[1]!;
  let w = dequantized.get(qw.data);
  if (!w) {
    const hasZeros = node.attrs['hasZeros'] === true;
    w = dequantizeWo({
      bits: node.attrs['bits'] as WoBits, groupSize: node.attrs['groupSize'] as number, n, k,
      qweight: qw.data, scales: f32(x[2]!, 'wo_matmul weight_scale'), ...(hasZeros ? { zeros: x[3]!.data } : {}),
    });
    dequantized.set(qw.data, w);
  }
  return w;
}

export function woMatmulKernel(x: readonly Buf[], node: NodeDef, outShapes: readonly number[][]): Buf[] {
  const k = node.attrs['inFeatures'] as number;
  const n = x[1]!.shape[0]!;
  const w = dequantizedWeight(x, node, n, k);
  let a = f32(x[0]!, 'wo_matmul');
  const m = a.length / k;
  if (node.attrs['hasPreScale'] === true) {
    const pre = f32(x[node.attrs['hasZeros'] === true ? 4 : 3]!, 'wo_matmul pre_scale');
    a = Float32Array.from(a, (v, i) => v * pre[i % k]!);
  }
  const out = new Float32Array(m * n);
  matmulTransB(a, w, out, m, k, n);
  return [{ data: out, shape: outShapes[0]! }];
}
