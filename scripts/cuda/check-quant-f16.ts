/**
 * The int4 GEMV with fp16 activations (ACT_F16=1). check-dtypes.ts's fp16 KernelSet runs no quantized
 * checks, so this compiles wo_gemm.cu for float16 itself (NVRTC, this device's arch) and launches the
 * GEMV entries directly with quant-ops.ts's launch shapes: wo_gemv_int4_mma (tensor cores, fp16
 * MMAs; its three paths: g128, g64 exact, g32 weight rounded) and wo_gemv_int4_m{1,4,8} (CUDA cores),
 * each over four cases (M=1 g128; M=3 g64 zeros; M=8 g128 zeros pre_scale; M=5 g32 zeros) against the
 * CPU reference on the same fp16 inputs, N=200 (a partial row tile), outputs poisoned first.
 * Tolerance 3e-3 relative L2: fp16 output rounding (~2^-12 rms) plus, for the mma kernel, x · pre_scale
 * and the group-32 weight rounded to fp16 (~2^-12 rms each).
 */
import { woMatmulKernel } from '../../src/backends/cpu/kernels/quant.js';
import type { Buf } from '../../src/backends/cpu/buffer.js';
import { compileCubin, nvrtcOptions } from '../../src/backends/cuda/compiler.js';
import { arg, type Kernel } from '../../src/backends/cuda/device.js';
import { definesFor, specialise } from '../../src/backends/cuda/kernels/index.js';
import type { NodeDef } from '../../src/graph/types.js';
import { quantizeWo } from '../../src/quant/numerics.js';
import { Arena, relError, toAct, type CheckResult } from './harness.js';
import type { Ctx } from './check-kernels.js';

const F16_WO_TOL = 3e-3;
const CASES = [{ m: 1, group: 128, zeros: false, pre: false }, { m: 3, group: 64, zeros: true, pre: false }, { m: 8, group: 128, zeros: true, pre: true },
  { m: 5, group: 32, zeros: true, pre: false }] as const;
type WoF16Case = (typeof CASES)[number];

/** Relative L2 error of one case through `entry` launched on grid (ceil(N / rowsPerBlock)) × threads. */
function runCase(c: Ctx, launch: (m: number) => { entry: string; rowsPerBlock: number; threads: number }, kernelOf: (entry: string) => Kernel, t: WoF16Case): number {
  const a = new Arena(c.device, c.stream);
  try {
    const { m, group } = t;
    const n = 200, k = 1024, g = k / group;
    const x = toAct(c.rng.floats(m * k, -2, 2), 'float16');
    const wq = quantizeWo(c.rng.floats(n * k, -0.05, 0.05), n, k, 4, group);
    const zeros = Uint8Array.from({ length: n * g }, () => c.rng.int(16));
    const pre = c.rng.floats(k, 0.5, 2);
    const out = a.poisoned(m * n * 2);
    const dz = t.zeros ? a.upload(zeros).ptr : 0, dp = t.pre ? a.upload(pre).ptr : 0;
    const l = launch(m);
    kernelOf(l.entry).launch({ grid: [Math.ceil(n / l.rowsPerBlock)], block: [l.threads] }, c.stream, [
      arg.ptr(a.upload(x.bits)), arg.i32(k), arg.i32(m), arg.i32(n), arg.i32(k), arg.ptr(a.upload(wq.qweight)), arg.ptr(a.upload(wq.scales)),
      arg.ptr(dz), arg.ptr(dp), arg.i32(group), arg.ptr(out), arg.i32(n)]);
    const bufs: Buf[] = [{ data: x.values, shape: [m, k] }, { data: Int32Array.from(wq.qweight), shape: [n, k / 2] }, { data: wq.scales, shape: [n, g] },
      ...(t.zeros ? [{ data: Int32Array.from(zeros), shape: [n, g] }] : []), ...(t.pre ? [{ data: pre, shape: [k] }] : [])];
    const node = { id: 0, op: 'wo_matmul', inputs: [], outputs: [], attrs: { bits: 4, groupSize: group, inFeatures: k, hasZeros: t.zeros, hasPreScale: t.pre } } as unknown as NodeDef;
    const ref = woMatmulKernel(bufs, node, [[m, n]])[0]!.data;
    return relError(a.act(out, m * n, 'float16'), ref);
  } finally { a.dispose(); }
}

/** One row per int4 GEMV kernel (the module compiled for ACT_F16=1 inside the row, unloaded after it). */
export function checkWoGemvF16(c: Ctx, kernel: 'mma' | 'fma'): CheckResult {
  const shapes = { ...c.ks.shapes, actDtype: 'float16' as const };
  const src = specialise('wo_gemm', { ...definesFor(shapes).wo_gemm, ACT_F16: 1 }, process.env.KILN_KERNEL_DIR);
  const mod = c.device.loadModule(compileCubin(src, 'wo_gemm.cu', nvrtcOptions(c.device.info.arch)).cubin);
  try {
    const launch = (m: number) => kernel === 'mma' ? { entry: 'wo_gemv_int4_mma', rowsPerBlock: 16, threads: 256 }
      : { entry: `wo_gemv_int4_m${m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : 8}`, rowsPerBlock: 4, threads: 128 };
    const errs = CASES.map((t) => runCase(c, launch, (e) => mod.getKernel(e), t));
    const err = Math.max(...errs);
    return { name: `[f16] wo_gemv int4 ${kernel} (M=1 g128, M=3 g64 zeros, M=8 g128 zeros pre_scale, M=5 g32 zeros) N=200 K=1024`, pass: err < F16_WO_TOL, error: err, tolerance: F16_WO_TOL,
      note: `per case ${errs.map((e) => e.toExponential(2)).join(', ')}; ${kernel === 'mma' ? 'wo_gemv_int4_mma' : 'wo_gemv_int4_m{1,4,8}'} compiled with ACT_F16=1` };
  } finally { mod.dispose(); }
}

export function woF16Checks(c: Ctx): [string, () => CheckResult][] {
  return (['mma', 'fma'] as const).map((kernel) => [`f16 wo_gemv int4 ${kernel}`, () => checkWoGemvF16(c, kernel)]);
}
