/**
 * Timings of the quantized GEMMs at Llama-3-8B shapes (see check-quant.ts): the weight-only GEMV at
 * M=1 (CUDA-graph timed, as decode runs it; GB/s of packed weights + scales read, against the measured copy bandwidth and the BF16
 * cuBLASLt GEMM of the same shape; int4 also times the CUDA-core kernel in the same run, and gate_up at
 * M=4 / 8 both kernels) and the FP8 GEMM at M=4096 (TFLOP/s, against BF16).
 */
import { arg, type DeviceBuffer } from '../../src/backends/cuda/device.js';
import type { ActRef, WoGemmOp } from '../../src/backends/cuda/exec-plan.js';
import { Fp8GemmPlan } from '../../src/backends/cuda/gemm-fp8.js';
import { GemmPlan, type CublasLtHandle } from '../../src/backends/cuda/gemm.js';
import { QuantOps, QuantScratch, int4GemvKernel, type Int4GemvKernel } from '../../src/backends/cuda/quant-ops.js';
import { DeviceWeights } from '../../src/backends/cuda/weights.js';
import { timeOnDevice } from '../../src/backends/cuda/timing.js';
import { Arena, gbps, type CheckResult } from './harness.js';
import { fillRandom } from './check-attention.js';
import type { Ctx } from './check-kernels.js';

export const LLAMA_NK: readonly [string, number, number][] = [['qkv', 6144, 4096], ['o', 4096, 4096], ['gate_up', 28672, 4096], ['down', 4096, 14336]];
const act = (slot: number, cols: number): ActRef => ({ kind: 'act', slot, col: 0, stride: cols, cols, f32: false });

function fillBytes(c: Ctx, buf: DeviceBuffer, n: number, mode: number, mul: number): void {
  c.ks.get('fill_quant_bytes').launch({ grid: [4096], block: [256] }, c.stream, [arg.ptr(buf), arg.u64(BigInt(n)), arg.i32(c.rng.int(1 << 30)), arg.i32(mode), arg.f32(mul)]);
}
function fillF32(c: Ctx, buf: DeviceBuffer, n: number, v: number): void {
  c.ks.get('fill_f32').launch({ grid: [Math.max(1, Math.min(4096, Math.ceil(n / 256)))], block: [256] }, c.stream, [arg.ptr(buf), arg.u64(BigInt(n)), arg.f32(v)]);
}

/**
 * Milliseconds per call of `fn`, from a CUDA graph of `reps` calls (how decode runs them): per-launch
 * event pairs would time the host's launch overhead for kernels of a few microseconds.
 */
function graphMs(c: Ctx, fn: () => void, reps = 20): number {
  fn();
  c.stream.synchronize();
  c.stream.beginCapture();
  for (let i = 0; i < reps; i++) fn();
  const g = c.stream.endCapture();
  try {
    return timeOnDevice(c.device, c.stream, () => g.launch(c.stream), { warmup: 2, iters: 10 }) / reps;
  } finally {
    g.dispose();
  }
}

/** BF16 cuBLASLt GEMM time (ms, heuristic's first algorithm) at M × N × K. */
function bf16Ms(c: Ctx, lt: CublasLtHandle, m: number, n: number, k: number): number {
  const a = new Arena(c.device, c.stream);
  const plan = new GemmPlan(lt, { m, n, k, epilogue: 'none' });
  try {
    const A = a.alloc(m * k * 2), B = a.alloc(n * k * 2), D = a.alloc(m * n * 2);
    fillRandom(c, a, A); fillRandom(c, a, B);
    const algo = plan.candidates(1)[0]!;
    return graphMs(c, () => plan.run(c.stream, algo, A, B, D));
  } finally { plan.dispose(); a.dispose(); }
}

/** Bytes one GEMV call moves: packed weights, group-128 scales, x and out (m rows). */
const woBytes = (bits: 4 | 8, m: number, n: number, k: number): number => (n * k * bits) / 8 + 4 * n * (k / 128) + 2 * m * k + 2 * m * n;

/** Milliseconds per int4/int8 GEMV call at m × n × k (dummy weights, group 128), CUDA-graph timed; `kernel` forces the int4 kernel. */
function woGemvMs(c: Ctx, lt: CublasLtHandle, bits: 4 | 8, m: number, n: number, k: number, kernel?: Int4GemvKernel): number {
  const a = new Arena(c.device, c.stream);
  const weights = new DeviceWeights();
  const group = 128, g = k / group;
  const scratch = QuantScratch.allocate(c.device, { fp8Act: 0, rowScale: 0, dequant: 0 });
  try {
    const qBytes = (n * k * bits) / 8;
    const qw = a.alloc(qBytes), sc = a.alloc(4 * n * g), x = a.alloc(2 * m * k), out = a.alloc(2 * m * n);
    fillBytes(c, qw, qBytes, bits === 4 ? 2 : 1, 7 / 3);
    fillF32(c, sc, n * g, 1e-3);
    fillRandom(c, a, x);
    weights.adopt('w.qweight', qw, [n, (k * bits) / 8], bits === 4 ? 'uint8' : 'int8');
    weights.adopt('w.weight_scale', sc, [n, g], 'float32');
    const slots = [x, out];
    const ops = new QuantOps({ kernels: c.ks, lt, weights, scratch, addr: (r) => slots[r.slot]!.ptr, gemm: () => { throw new Error('no GEMM at M ≤ 8'); }, int4Gemv: kernel });
    const op: WoGemmOp = { op: 'wo_gemm', x: act(0, k), weight: 'w.qweight', scales: 'w.weight_scale', zeros: null, preScale: null, bits, groupSize: group,
      out: act(1, n), n, k, gemv: true, rowsDim: 'num_tokens' };
    try {
      return graphMs(c, () => ops.woGemm(op, m, m, c.stream));
    } finally { ops.dispose(); }
  } finally { weights.dispose(); scratch.dispose(); a.dispose(); }
}

const pct = (bw: number, copyGbps: number): string => `${((100 * bw) / copyGbps).toFixed(0)}%`;

/**
 * int4/int8 GEMV at M=1 on one Llama-3-8B projection; pass when ≥ 70% of the copy bandwidth. int4 runs
 * the default kernel (wo_gemv_int4_mma unless KILN_WO_GEMV_INT4=fma) and, in the same run, the CUDA-core
 * kernel wo_gemv_int4_m1 for the A/B in the note.
 */
export function timeWoGemv(c: Ctx, lt: CublasLtHandle, bits: 4 | 8, label: string, n: number, k: number, copyGbps: number): CheckResult {
  const bytes = woBytes(bits, 1, n, k);
  const ms = woGemvMs(c, lt, bits, 1, n, k);
  const bw = gbps(bytes, ms);
  const bf16 = bf16Ms(c, lt, 1, n, k);
  let ab = '';
  if (bits === 4) {
    const fma = woGemvMs(c, lt, 4, 1, n, k, 'fma');
    ab = `; kernel ${int4GemvKernel(k, 128)}; A/B: fma kernel (wo_gemv_int4_m1) ${fma.toFixed(4)} ms ${gbps(bytes, fma).toFixed(0)} GB/s (${pct(gbps(bytes, fma), copyGbps)}) → ${(fma / ms).toFixed(2)}× faster`;
  }
  return { name: `wo_gemv int${bits} ${label} M=1 N=${n} K=${k}`, pass: bw >= 0.7 * copyGbps, ms, gbps: bw, tolerance: 0.7,
    note: `${pct(bw, copyGbps)} of copy bandwidth ${copyGbps.toFixed(0)} GB/s (≥ 70% required); BF16 cuBLASLt M=1 ${bf16.toFixed(4)} ms → ${(bf16 / ms).toFixed(2)}× faster${ab}` };
}

/** The int4 GEMV at M = m (batched decode) with both kernels; pass when the mma kernel is not slower than the fma one. */
export function timeWoGemvRows(c: Ctx, lt: CublasLtHandle, label: string, m: number, n: number, k: number, copyGbps: number): CheckResult {
  const bytes = woBytes(4, m, n, k);
  const mma = woGemvMs(c, lt, 4, m, n, k, 'mma'), fma = woGemvMs(c, lt, 4, m, n, k, 'fma');
  const bw = gbps(bytes, mma);
  return { name: `wo_gemv int4 ${label} M=${m} N=${n} K=${k} mma vs fma`, pass: mma <= fma, ms: mma, gbps: bw,
    note: `mma ${mma.toFixed(4)} ms ${bw.toFixed(0)} GB/s (${pct(bw, copyGbps)} of copy); fma (wo_gemv_int4_m${m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : 8}) ${fma.toFixed(4)} ms ${gbps(bytes, fma).toFixed(0)} GB/s → mma ${(fma / mma).toFixed(2)}× faster` };
}

/** FP8 GEMM (scales fused, bf16 out) at M=4096 on one Llama-3-8B projection, against BF16 at the same shape. */
export function timeFp8Gemm(c: Ctx, lt: CublasLtHandle, label: string, n: number, k: number): CheckResult {
  const a = new Arena(c.device, c.stream);
  const m = 4096;
  const plan = new Fp8GemmPlan(lt, { m, n, k, out: 'bfloat16' });
  try {
    const A = a.alloc(m * k), W = a.alloc(n * k), D = a.alloc(2 * m * n), sw = a.alloc(4), sa = a.alloc(4);
    fillBytes(c, A, m * k, 0, 112); fillBytes(c, W, n * k, 0, 112); fillF32(c, sw, 1, 1e-3); fillF32(c, sa, 1, 1e-3);
    const algo = plan.candidates(1, true)[0];
    if (!algo) return { name: `fp8 gemm ${label} M=${m} N=${n} K=${k}`, pass: false, note: 'cuBLASLt returned no FP8 algorithm' };
    const ms = a.time(() => plan.run(c.stream, algo, A, W, D, sw, sa));
    const tflops = (2 * m * n * k) / (ms * 1e9);
    const bf16 = bf16Ms(c, lt, m, n, k);
    return { name: `fp8 gemm ${label} M=${m} N=${n} K=${k}`, pass: Number.isFinite(tflops) && tflops > 0, ms, tflops,
      note: `BF16 cuBLASLt ${bf16.toFixed(3)} ms (${((2 * m * n * k) / (bf16 * 1e9)).toFixed(0)} TFLOP/s) → FP8 ${(bf16 / ms).toFixed(2)}× faster; GEMM only (the op adds quantize_fp8_rows)` };
  } finally { plan.dispose(); a.dispose(); }
}

export function timeWoGemvAll(c: Ctx, lt: CublasLtHandle, copyGbps: number): [string, () => CheckResult][] {
  const out: [string, () => CheckResult][] = [];
  for (const bits of [4, 8] as const) for (const [label, n, k] of LLAMA_NK) out.push([`wo_gemv int${bits} ${label}`, () => timeWoGemv(c, lt, bits, label, n, k, copyGbps)]);
  for (const m of [4, 8]) out.push([`wo_gemv int4 gate_up M=${m}`, () => timeWoGemvRows(c, lt, 'gate_up', m, 28672, 4096, copyGbps)]);
  return out;
}

export function timeFp8Gemms(c: Ctx, lt: CublasLtHandle): [string, () => CheckResult][] {
  return LLAMA_NK.map(([label, n, k]) => [`fp8 gemm ${label}`, () => timeFp8Gemm(c, lt, label, n, k)]);
}
