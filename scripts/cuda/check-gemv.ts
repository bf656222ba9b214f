/**
 * Device checks of the Kiln GEMV tactic (kernels/gemv.cu, gemv.ts, gemm-tactic.ts):
 * - correctness vs the CPU backend's matmulTransB (+bias, relu / gelu erf) on fresh random inputs,
 *   outputs poisoned: m ∈ {1, 2, 3, 5, 8}, D act dtype and float32, A and D with row strides wider
 *   than K / N, N not a multiple of the rows per block, K whose chunks do not fill the unrolled loop;
 *   bf16 (tolerance 1e-2 relative L2) and fp16 (1e-3); rows past m and the stride gaps must stay poisoned;
 * - timings at Llama-3-8B shapes for m = 1, 2, 4, 8: the GEMV and cuBLASLt's tuned best (tuneGemm with a
 *   throwaway cache) at the same shape, both as CUDA graphs cycling weight copies (gemm-tactic.ts
 *   timeGemvVsCublasLt, what the builder compares), GB/s against the measured copy rate;
 * - the real build path: target-builder.ts tuneAll on one small shape, then a PlanRunner running the
 *   tactic (the GEMV, counted through its kernel lookups) against the CPU, and with KILN_GEMV=0 (cuBLASLt).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileCubin, nvrtcOptions } from '../../src/backends/cuda/compiler.js';
import type { Kernel } from '../../src/backends/cuda/device.js';
import type { CublasLtHandle, GemmEpilogue } from '../../src/backends/cuda/gemm.js';
import { GemmPlan } from '../../src/backends/cuda/gemm.js';
import { TimingCache, tuneGemm } from '../../src/backends/cuda/gemm-tuner.js';
import { timeGemvVsCublasLt, weightCopies } from '../../src/backends/cuda/gemm-tactic.js';
import { launchGemv, type GemvEntry, type GemvKernels } from '../../src/backends/cuda/gemv.js';
import { specialise } from '../../src/backends/cuda/kernels/index.js';
import { Arena, actTol, gbps, relError, toAct, type ActDtype, type CheckResult } from './harness.js';
import { fillRandom } from './check-attention.js';
import type { Ctx } from './check-kernels.js';
import { checkGemvTactic, cpuGemm } from './check-gemv-tactic.js';

const EPILOGUES = ['none', 'bias', 'gelu_bias', 'relu_bias'] as const;
const ROWS = [1, 2, 3, 5, 8];

/** The GEMV entries compiled alone (NVRTC, one small file) for `dtype`; `dispose()` unloads them. */
function loadGemv(c: Ctx, dtype: ActDtype): GemvKernels & { dispose(): void } {
  const src = specialise('gemv', { ACT_F16: dtype === 'float16' ? 1 : 0, KV_FP8: 0 }, process.env.KILN_KERNEL_DIR);
  const mod = c.device.loadModule(compileCubin(src, 'gemv.cu', nvrtcOptions(c.device.info.arch)).cubin);
  const kernels = new Map<GemvEntry, Kernel>();
  const get = (e: GemvEntry): Kernel => {
    const k = kernels.get(e) ?? mod.getKernel(e);
    kernels.set(e, k);
    return k;
  };
  return { get, dispose: () => mod.dispose() };
}

interface Case { readonly m: number; readonly outF32: boolean; readonly err: number; readonly stray: number }
interface Weight { readonly n: number; readonly k: number; readonly b: Float32Array; readonly bias: Float32Array; readonly dB: number; readonly dBias: number }

/** One (m, outF32) case: poisoned D [9, ldd = N + 3], A with row stride lda = K + 8; returns the error and writes outside D[m, n]. */
function runCase(c: Ctx, a: Arena, ks: GemvKernels, dtype: ActDtype, epilogue: GemmEpilogue, w: Weight, m: number, outF32: boolean): Case {
  const { n, k } = w;
  const lda = k + 8, ldd = n + 3, rowsD = 9;
  const A = toAct(c.rng.floats(m * lda), dtype);
  const dA = a.upload(A.bits), dD = a.poisoned(rowsD * ldd * (outF32 ? 4 : 2));
  launchGemv(ks, c.stream, { m, n, k, epilogue, outF32, a: dA.ptr, lda, b: w.dB, bias: w.dBias, d: dD.ptr, ldd });
  const aDense = new Float32Array(m * k);
  for (let i = 0; i < m; i++) aDense.set(A.values.subarray(i * lda, i * lda + k), i * k);
  const ref = cpuGemm(aDense, w.b, w.bias, m, n, k, epilogue);
  const all = outF32 ? new Float32Array(rowsD * ldd) : a.act(dD, rowsD * ldd, dtype);
  if (outF32) dD.download(all, c.stream);
  const got = new Float32Array(m * n);
  let stray = 0;
  for (let i = 0; i < rowsD; i++) {
    for (let j = 0; j < ldd; j++) {
      const v = all[i * ldd + j]!;
      if (i < m && j < n) got[i * n + j] = v;
      else if (!Number.isNaN(v)) stray++;
    }
  }
  return { m, outF32, err: relError(got, ref), stray };
}

/** Every m and output dtype for one epilogue at two shapes (N = 1013, K = 1096: tails everywhere; N = 77, K = 4104). */
export function checkGemv(c: Ctx, dtype: ActDtype, epilogue: GemmEpilogue, kernels?: GemvKernels): CheckResult {
  const own = kernels ? null : loadGemv(c, dtype);
  const ks: GemvKernels | null = kernels ?? own;
  if (!ks) throw new Error('unreachable: no GEMV kernels');
  const a = new Arena(c.device, c.stream);
  try {
    const cases: Case[] = [];
    for (const [n, k] of [[1013, 1096], [77, 4104]] as const) {
      const B = toAct(c.rng.floats(n * k), dtype), bias = toAct(c.rng.floats(n), dtype);
      const w: Weight = { n, k, b: B.values, bias: bias.values, dB: a.upload(B.bits).ptr, dBias: a.upload(bias.bits).ptr };
      for (const m of ROWS) for (const outF32 of [false, true]) cases.push(runCase(c, a, ks, dtype, epilogue, w, m, outF32));
    }
    const worst = cases.reduce((x, y) => (y.err > x.err ? y : x));
    const stray = cases.reduce((s, x) => s + x.stray, 0);
    const tol = actTol(dtype);
    return { name: `gemv ${dtype === 'float16' ? 'f16' : 'bf16'} ${epilogue} m=${ROWS.join('/')} out act/f32`, pass: worst.err < tol && stray === 0,
      error: worst.err, tolerance: tol, note: `${cases.length} cases at N×K 1013×1096 and 77×4104 (lda K+8, ldd N+3); worst m=${worst.m}${worst.outF32 ? ' f32 out' : ''}; ${stray} writes outside D[m, n]` };
  } finally { a.dispose(); own?.dispose(); }
}

const LLAMA: readonly [string, number, number, boolean][] = [
  ['qkv', 6144, 4096, false], ['o', 4096, 4096, false], ['gate_up', 28672, 4096, false], ['down', 4096, 14336, false], ['lm_head', 128256, 4096, true],
];

/** GEMV vs cuBLASLt's tuned best at one Llama-3-8B shape and m (both graph-timed over rotating weight copies). */
export function timeGemv(c: Ctx, lt: CublasLtHandle, label: string, n: number, k: number, outF32: boolean, m: number, copyGbps: number): CheckResult {
  const a = new Arena(c.device, c.stream);
  const plan = new GemmPlan(lt, { m, n, k, epilogue: 'none', outF32, dtype: c.ks.shapes.actDtype ?? 'bfloat16' });
  try {
    const w = 2 * n * k;
    const bufs = { a: a.alloc(2 * m * k), b: a.alloc(w * weightCopies(320 << 20, n, k)), d: a.alloc((outF32 ? 4 : 2) * m * n) };
    fillRandom(c, a, bufs.a); fillRandom(c, a, bufs.b);
    const tuned = tuneGemm(c.device, c.stream, plan, bufs, new TimingCache(null), `gemv check ${label} m${m}`, { warmup: 3, iters: 20 });
    const t = timeGemvVsCublasLt(c.device, c.stream, c.ks, plan, tuned, bufs);
    const bytes = w + 2 * m * k + (outF32 ? 4 : 2) * m * n;
    const bw = gbps(bytes, t.ms), ltBw = gbps(bytes, t.cublasLtMs);
    const pct = (x: number): string => `${((100 * x) / copyGbps).toFixed(0)}%`;
    return { name: `gemv timing ${label} m=${m} N=${n} K=${k}${outF32 ? ' f32out' : ''}`, pass: Number.isFinite(t.ms) && t.ms > 0, ms: t.ms, gbps: bw,
      note: `gemv ${t.ms.toFixed(4)} ms ${bw.toFixed(0)} GB/s (${pct(bw)} of copy ${copyGbps.toFixed(0)} GB/s) | cuBLASLt best #${tuned.index} ${t.cublasLtMs.toFixed(4)} ms ${ltBw.toFixed(0)} GB/s (${pct(ltBw)}; event-timed ${tuned.medianMs.toFixed(4)} ms) | gemv ${(t.cublasLtMs / t.ms).toFixed(2)}× → ${t.ms < t.cublasLtMs ? 'GEMV wins' : 'cuBLASLt wins'}` };
  } finally { plan.dispose(); a.dispose(); }
}

/** Every GEMV check as (name, fn) rows for check.ts's attempt(). */
export function gemvChecks(c: Ctx, lt: CublasLtHandle, copyGbps: number): [string, () => CheckResult][] {
  const rows: [string, () => CheckResult][] = [];
  for (const e of EPILOGUES) rows.push([`gemv bf16 ${e}`, () => checkGemv(c, 'bfloat16', e, c.ks)]);
  for (const e of EPILOGUES) rows.push([`gemv f16 ${e}`, () => checkGemv(c, 'float16', e)]);
  for (const [label, n, k, outF32] of LLAMA) {
    for (const m of [1, 2, 4, 8]) rows.push([`gemv timing ${label} m=${m}`, () => timeGemv(c, lt, label, n, k, outF32, m, copyGbps)]);
  }
  rows.push(['gemv tactic through tuneAll + PlanRunner', () => checkGemvTactic(c, lt, mkdtempSync(join(tmpdir(), 'kiln-gemv-')))]);
  return rows;
}
