/**
 * GPU checks of the quantized GEMMs (issue 7) against the CPU backend's reference kernels
 * (backends/cpu/kernels/quant.ts) on fresh random inputs, outputs poisoned with NaN first:
 *   fp8_gemm: static/dynamic activation scales × per-tensor/per-channel weight scales, M ∈ {1, 3, 16, 200};
 *   wo_gemm: int8/int4, with/without zero points (int4) and AWQ pre_scale, group 128 and 64,
 *     M ∈ {1, 3} (the GEMV) and {16, 200} (dequantize + bf16 GEMM); the int4 GEMV by default on tensor
 *     cores (wo_gemv_int4_mma) plus rows forcing the CUDA-core kernel ([fma]), M=8, group 32 / 256 and
 *     N=200 (a partial 16-row tile), and both kernels with fp16 activations (check-quant-f16.ts);
 *   the dummy-weight fills (fill_quant_bytes, fill_f32) against backends/dummy-weights.ts, and the
 *   unfused elementwise ops (silu_rows, binary_rows).
 * Tolerance: 1e-2 relative L2 (bf16 output). The GPU quantizes x exactly as the CPU does (RNE of
 * x / a to e4m3), so the FP8 error is the bf16 rounding of the output (~2^-9) and summation order;
 * the weight-only path sees the same plus bf16 x (identical inputs) and, above 8 rows, the
 * dequantized weight rounded to bf16 (~2^-9 per element, averaging out over K).
 * Timings: the GEMV at Llama-3-8B shapes (GB/s of packed weights + scales read vs the measured copy
 * bandwidth, and the same shape's BF16 cuBLASLt GEMM at M=1), FP8 GEMMs at M=4096 (TFLOP/s).
 */
import { fp8MatmulKernel, woMatmulKernel } from '../../src/backends/cpu/kernels/quant.js';
import type { Buf } from '../../src/backends/cpu/buffer.js';
import { arg, type DeviceBuffer } from '../../src/backends/cuda/device.js';
import type { ActRef, Fp8GemmOp, WoGemmOp } from '../../src/backends/cuda/exec-plan.js';
import { GemmPlan, type CublasLtHandle } from '../../src/backends/cuda/gemm.js';
import { gemmRowsBucket } from '../../src/backends/cuda/plan-runner.js';
import { QuantOps, QuantScratch, int4GemvKernel, type Int4GemvKernel } from '../../src/backends/cuda/quant-ops.js';
import { DeviceWeights } from '../../src/backends/cuda/weights.js';
import { dummyCodes, dummyRule, tensorSeed } from '../../src/backends/dummy-weights.js';
import { fp8e4m3BitsToF32 } from '../../src/graph/dtype.js';
import type { NodeDef } from '../../src/graph/types.js';
import { amaxOf, fp8ActivationScale, quantizeFp8Weight, quantizeWo } from '../../src/quant/numerics.js';
import { Arena, BF16_TOL, relError, toBf16, type CheckResult } from './harness.js';
import type { Ctx } from './check-kernels.js';
import { woF16Checks } from './check-quant-f16.js';
import { timeFp8Gemms, timeWoGemvAll } from './check-quant-timing.js';

const act = (slot: number, cols: number, f32 = false): ActRef => ({ kind: 'act', slot, col: 0, stride: cols, cols, f32 });
const node = (op: string, attrs: NodeDef['attrs']): NodeDef => ({ id: 0, op, inputs: [], outputs: [], attrs } as unknown as NodeDef);

/** A QuantOps over `slots` (x = slot 0, out = slot 1) and `weights`; the caller disposes the returned parts. */
function quantOps(c: Ctx, lt: CublasLtHandle, slots: DeviceBuffer[], weights: DeviceWeights, b: { fp8Act: number; rowScale: number; dequant: number },
  int4Gemv?: Int4GemvKernel) {
  const scratch = QuantScratch.allocate(c.device, b);
  const plans: GemmPlan[] = [];
  const ops = new QuantOps({
    kernels: c.ks, lt, weights, scratch, addr: (r) => slots[r.slot]!.ptr, int4Gemv,
    gemm: (m, n, k, outF32) => {
      const plan = new GemmPlan(lt, { m, n, k, epilogue: 'none', outF32 });
      plans.push(plan);
      return { plan, algo: plan.candidates(1)[0]! };
    },
  });
  return { ops, dispose: () => { ops.dispose(); for (const p of plans) p.dispose(); scratch.dispose(); } };
}

export interface Fp8Case { readonly m: number; readonly activation: 'static' | 'dynamic'; readonly scale: 'tensor' | 'channel' }

export function checkFp8Gemm(c: Ctx, lt: CublasLtHandle, t: Fp8Case): CheckResult {
  const a = new Arena(c.device, c.stream);
  const weights = new DeviceWeights();
  const { m, activation } = t;
  const n = 384, k = 1024, mb = gemmRowsBucket(m);
  let q: ReturnType<typeof quantOps> | undefined;
  try {
    const x = toBf16(c.rng.floats(m * k, -2, 2));
    const wq = quantizeFp8Weight(c.rng.floats(n * k, -0.05, 0.05), n, k, t.scale === 'channel');
    const inScale = Float32Array.of(fp8ActivationScale(amaxOf(x.values)));
    const xBuf = a.alloc(mb * k * 2);
    xBuf.upload(x.bits, c.stream);
    const out = a.poisoned(mb * n * 2);
    const put = (name: string, data: Uint8Array | Float32Array, shape: number[], dtype: 'fp8e4m3' | 'float32'): void => weights.adopt(name, a.upload(data), shape, dtype);
    put('w.qweight', wq.codes, [n, k], 'fp8e4m3');
    put('w.weight_scale', wq.scales, [wq.scales.length], 'float32');
    put('w.input_scale', inScale, [1], 'float32');
    q = quantOps(c, lt, [xBuf, out], weights, { fp8Act: mb * k, rowScale: 4 * mb, dequant: 0 });
    const op: Fp8GemmOp = { op: 'fp8_gemm', x: act(0, k), weight: 'w.qweight', weightScale: 'w.weight_scale', inputScale: activation === 'static' ? 'w.input_scale' : null,
      perChannel: t.scale === 'channel', out: act(1, n), n, k, rowsDim: 'num_tokens' };
    q.ops.fp8Gemm(op, m, mb, c.stream);
    const bufs: Buf[] = [{ data: x.values, shape: [m, k] }, { data: Float32Array.from(wq.codes, fp8e4m3BitsToF32), shape: [n, k] },
      { data: wq.scales, shape: [wq.scales.length] }, { data: inScale, shape: [1] }];
    const ref = fp8MatmulKernel(activation === 'static' ? bufs : bufs.slice(0, 3), node('fp8_matmul', { activationScale: activation }), [[m, n]])[0]!.data;
    const err = relError(a.bf16(out, m * n), ref);
    return { name: `fp8_gemm ${activation} act, per-${t.scale} weight scale, M=${m} N=${n} K=${k}`, pass: err < BF16_TOL, error: err, tolerance: BF16_TOL,
      note: activation === 'static' && t.scale === 'tensor' ? 'scales fused into cuBLASLt (A/B_SCALE_POINTER)' : 'unit-scale GEMM + fp8_rescale' };
  } finally { q?.dispose(); weights.dispose(); a.dispose(); }
}

export interface WoCase {
  readonly m: number; readonly bits: 4 | 8; readonly group: number; readonly zeros: boolean; readonly pre: boolean;
  /** Output features (default 384). */
  readonly n?: number;
  /** The int4 GEMV kernel to force (default: QuantOps' choice). */
  readonly kernel?: Int4GemvKernel;
}

export function checkWoGemm(c: Ctx, lt: CublasLtHandle, t: WoCase): CheckResult {
  const a = new Arena(c.device, c.stream);
  const weights = new DeviceWeights();
  const { m, bits, group } = t;
  const n = t.n ?? 384, k = 1024, mb = gemmRowsBucket(m), g = k / group;
  let q: ReturnType<typeof quantOps> | undefined;
  try {
    const x = toBf16(c.rng.floats(m * k, -2, 2));
    const wq = quantizeWo(c.rng.floats(n * k, -0.05, 0.05), n, k, bits, group);
    const zeros = Uint8Array.from({ length: n * g }, () => c.rng.int(16));
    const pre = c.rng.floats(k, 0.5, 2);
    const xBuf = a.alloc(mb * k * 2);
    xBuf.upload(x.bits, c.stream);
    const out = a.poisoned(mb * n * 2);
    weights.adopt('w.qweight', a.upload(wq.qweight), [n, bits === 8 ? k : k / 2], bits === 8 ? 'int8' : 'uint8');
    weights.adopt('w.weight_scale', a.upload(wq.scales), [n, g], 'float32');
    weights.adopt('w.zeros', a.upload(zeros), [n, g], 'uint8');
    weights.adopt('w.pre_scale', a.upload(pre), [k], 'float32');
    q = quantOps(c, lt, [xBuf, out], weights, { fp8Act: 0, rowScale: 0, dequant: 2 * n * k }, t.kernel);
    const op: WoGemmOp = { op: 'wo_gemm', x: act(0, k), weight: 'w.qweight', scales: 'w.weight_scale', zeros: t.zeros ? 'w.zeros' : null,
      preScale: t.pre ? 'w.pre_scale' : null, bits, groupSize: group, out: act(1, n), n, k, gemv: true, rowsDim: 'num_tokens' };
    q.ops.woGemm(op, m, mb, c.stream);
    const bufs: Buf[] = [{ data: x.values, shape: [m, k] }, { data: Int32Array.from(wq.qweight), shape: [n, bits === 8 ? k : k / 2] }, { data: wq.scales, shape: [n, g] },
      ...(t.zeros ? [{ data: Int32Array.from(zeros), shape: [n, g] }] : []), ...(t.pre ? [{ data: pre, shape: [k] }] : [])];
    const attrs = { bits, groupSize: group, inFeatures: k, hasZeros: t.zeros, hasPreScale: t.pre };
    const ref = woMatmulKernel(bufs, node('wo_matmul', attrs), [[m, n]])[0]!.data;
    const err = relError(a.bf16(out, m * n), ref);
    const gemv = bits === 4 ? `wo_gemv_int4_${int4GemvKernel(k, group, t.kernel) === 'mma' ? 'mma (tensor cores)' : `m${m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : 8} (CUDA cores)`}` : 'wo_gemv_int8';
    return { name: `wo_gemm int${bits} g${group}${t.zeros ? ' zeros' : ''}${t.pre ? ' pre_scale' : ''} M=${m} N=${n} K=${k}${t.kernel ? ` [${t.kernel}]` : ''}`, pass: err < BF16_TOL, error: err, tolerance: BF16_TOL,
      note: m <= 8 ? `GEMV ${gemv}` : 'wo_dequant + bf16 cuBLASLt GEMM' };
  } finally { q?.dispose(); weights.dispose(); a.dispose(); }
}

/** fill_quant_bytes against dummyCodes (same hash and Box-Muller; GPU transcendentals may move a code by one step). */
export function checkDummyFill(c: Ctx, dtype: 'fp8e4m3' | 'int8' | 'uint8'): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const name = 'model.layers.0.mlp.down_proj.qweight', n = 1 << 20, seed = 1 + c.rng.int(1000);
    const rule = dummyRule(name, dtype, 2) as Extract<ReturnType<typeof dummyRule>, { kind: 'codes' }>;
    const buf = a.poisoned(n);
    c.ks.get('fill_quant_bytes').launch({ grid: [4096], block: [256] }, c.stream,
      [arg.ptr(buf), arg.u64(BigInt(n)), arg.i32(tensorSeed(seed, name) | 0), arg.i32({ fp8: 0, int8: 1, int4: 2 }[rule.format]), arg.f32(rule.mul)]);
    const got = new Uint8Array(n);
    buf.download(got, c.stream);
    const want = dummyCodes(seed, name, n, rule);
    let off = 0;
    for (let i = 0; i < n; i++) if (got[i] !== want[i]) off++;
    const frac = off / n;
    return { name: `dummy fill ${rule.format} codes (${n} bytes)`, pass: frac < 1e-3, error: frac, tolerance: 1e-3, note: 'error = fraction of bytes differing from the CPU fill' };
  } finally { a.dispose(); }
}

/** silu_rows and binary_rows (mul, broadcast add) against f32 formulas on bf16 inputs. */
export function checkElementwise(c: Ctx): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const rows = 37, cols = 1000;
    const x = toBf16(c.rng.floats(rows * cols, -4, 4)), y = toBf16(c.rng.floats(rows * cols, -2, 2)), bias = toBf16(c.rng.floats(cols));
    const dx = a.upload(x.bits), dy = a.upload(y.bits), db = a.upload(bias.bits);
    const o1 = a.poisoned(rows * cols * 2), o2 = a.poisoned(rows * cols * 2), o3 = a.poisoned(rows * cols * 2);
    const dims = { grid: [Math.ceil(cols / 256), rows] as [number, number], block: [256] as [number] };
    c.ks.get('silu_rows').launch(dims, c.stream, [arg.ptr(dx), arg.i32(cols), arg.ptr(o1), arg.i32(cols)]);
    c.ks.get('binary_rows').launch(dims, c.stream, [arg.ptr(dx), arg.i32(cols), arg.ptr(dy), arg.i32(cols), arg.ptr(o2), arg.i32(cols), arg.i32(1)]);
    c.ks.get('binary_rows').launch(dims, c.stream, [arg.ptr(dx), arg.i32(cols), arg.ptr(db), arg.i32(0), arg.ptr(o3), arg.i32(cols), arg.i32(0)]);
    const n = rows * cols;
    const err = Math.max(
      relError(a.bf16(o1, n), x.values.map((v) => v / (1 + Math.exp(-v)))),
      relError(a.bf16(o2, n), x.values.map((v, i) => v * y.values[i]!)),
      relError(a.bf16(o3, n), x.values.map((v, i) => v + bias.values[i % cols]!)));
    return { name: `silu_rows / binary_rows (mul, broadcast add) ${rows}×${cols}`, pass: err < BF16_TOL, error: err, tolerance: BF16_TOL };
  } finally { a.dispose(); }
}

/** Every quantized check as (name, thunk) for check.ts's `attempt`; `copyGbps`: the measured device copy bandwidth. */
export function quantChecks(c: Ctx, lt: CublasLtHandle, copyGbps: number): [string, () => CheckResult][] {
  const out: [string, () => CheckResult][] = [];
  for (const m of [1, 3, 16, 200]) {
    for (const activation of ['static', 'dynamic'] as const) {
      for (const scale of ['tensor', 'channel'] as const) out.push([`fp8_gemm ${activation} ${scale} M=${m}`, () => checkFp8Gemm(c, lt, { m, activation, scale })]);
    }
    for (const [bits, group, zeros, pre] of [[8, 128, false, false], [8, 64, false, true], [4, 128, false, false], [4, 64, true, false], [4, 128, true, true]] as const) {
      out.push([`wo_gemm int${bits} g${group} M=${m}`, () => checkWoGemm(c, lt, { m, bits, group, zeros, pre })]);
    }
  }
  const int4Cases = [[128, false, false], [64, true, false], [128, true, true]] as const;
  for (const m of [1, 3]) {
    for (const [group, zeros, pre] of int4Cases) out.push([`wo_gemm int4 g${group} M=${m} fma`, () => checkWoGemm(c, lt, { m, bits: 4, group, zeros, pre, kernel: 'fma' })]);
  }
  for (const [group, zeros, pre] of int4Cases) out.push([`wo_gemm int4 g${group} M=8`, () => checkWoGemm(c, lt, { m: 8, bits: 4, group, zeros, pre })]);
  out.push(['wo_gemm int4 g32 M=5 N=200', () => checkWoGemm(c, lt, { m: 5, bits: 4, group: 32, zeros: true, pre: true, n: 200 })]);
  out.push(['wo_gemm int4 g256 M=2 N=200', () => checkWoGemm(c, lt, { m: 2, bits: 4, group: 256, zeros: true, pre: false, n: 200 })]);
  out.push(...woF16Checks(c));
  for (const dtype of ['fp8e4m3', 'int8', 'uint8'] as const) out.push([`dummy fill ${dtype}`, () => checkDummyFill(c, dtype)]);
  out.push(['silu_rows / binary_rows', () => checkElementwise(c)]);
  return [...out, ...timeWoGemvAll(c, lt, copyGbps), ...timeFp8Gemms(c, lt)];
}
