/** GPU checks of the cuBLASLt GEMMs: correctness with epilogues, and autotuned timings at Llama-3-8B shapes. */
import { CublasLtHandle, GemmPlan, gemmFlops, type GemmDtype, type GemmEpilogue } from '../../src/backends/cuda/gemm.js';
import { TimingCache, tuneGemm } from '../../src/backends/cuda/gemm-tuner.js';
import { matmulTransB } from '../../src/backends/cpu/kernels/matmul.js';
import { gelu } from '../../src/backends/cpu/kernels/elementwise.js';
import { Arena, actTol, BF16_TOL, relError, toAct, toBf16, type CheckResult } from './harness.js';
import { fillRandom } from './check-attention.js';
import type { Ctx } from './check-kernels.js';

/**
 * D = A·Bᵀ (+bias, act) at M=64, N=512, K=1024 vs the CPU GEMM, in bf16 or fp16 (`dtype`). cuBLASLt's
 * GELU is the tanh form; the CPU's is erf (≤ 3e-4 apart, inside the fp16 tolerance at these magnitudes).
 */
export function checkGemmEpilogue(c: Ctx, lt: CublasLtHandle, epilogue: GemmEpilogue, dtype: GemmDtype = 'bfloat16'): CheckResult {
  const a = new Arena(c.device, c.stream);
  const plan = new GemmPlan(lt, { m: 64, n: 512, k: 1024, epilogue, dtype });
  try {
    const { m, n, k } = plan.shape;
    const A = toAct(c.rng.floats(m * k), dtype), B = toAct(c.rng.floats(n * k), dtype), bias = toAct(c.rng.floats(n), dtype);
    const dA = a.upload(A.bits), dB = a.upload(B.bits), dBias = a.upload(bias.bits), dD = a.poisoned(m * n * 2);
    const algos = plan.candidates(8, dBias.ptr);
    plan.run(c.stream, algos[0]!, dA, dB, dD, dBias);
    const ref = new Float32Array(m * n);
    matmulTransB(A.values, B.values, ref, m, k, n, epilogue.endsWith('bias') ? bias.values : undefined);
    if (epilogue.startsWith('gelu')) for (let i = 0; i < ref.length; i++) ref[i] = gelu(ref[i]!);
    if (epilogue.startsWith('relu')) for (let i = 0; i < ref.length; i++) ref[i] = Math.max(0, ref[i]!);
    const err = relError(a.act(dD, m * n, dtype), ref);
    const tol = actTol(dtype);
    return { name: `gemm${dtype === 'float16' ? ' f16' : ''} ${epilogue} M=${m} N=${n} K=${k}`, pass: err < tol, error: err, tolerance: tol, note: `${algos.length} heuristic candidates` };
  } finally { plan.dispose(); a.dispose(); }
}

export interface GemmTiming {
  readonly label: string;
  readonly m: number; readonly n: number; readonly k: number;
  readonly heuristicMs: number; readonly heuristicTflops: number;
  readonly bestMs: number; readonly bestTflops: number; readonly bestIndex: number;
  readonly candidates: readonly { index: number; ms: number | null }[];
}

const LLAMA_NK: readonly [string, number, number][] = [['qkv', 6144, 4096], ['o', 4096, 4096], ['gate_up', 28672, 4096], ['down', 4096, 14336]];

/** Tunes every Llama-3-8B projection at M ∈ {1, 64, 2048} (and 8192³ as the ceiling); returns timings and cache stats. */
export function timeLlamaGemms(c: Ctx, lt: CublasLtHandle, cachePath: string): { timings: GemmTiming[]; cacheHits: number; cacheEntries: number } {
  const cache = new TimingCache(cachePath);
  const shapes: [string, number, number, number][] = [];
  for (const m of [1, 64, 2048]) for (const [label, n, k] of LLAMA_NK) shapes.push([label, m, n, k]);
  shapes.push(['ceiling', 8192, 8192, 8192]);
  const timings: GemmTiming[] = [];
  for (const [label, m, n, k] of shapes) {
    const a = new Arena(c.device, c.stream);
    const plan = new GemmPlan(lt, { m, n, k, epilogue: 'none' });
    try {
      const bufs = { a: a.alloc(m * k * 2), b: a.alloc(n * k * 2), d: a.alloc(m * n * 2) };
      fillRandom(c, a, bufs.a); fillRandom(c, a, bufs.b);
      const key = TimingCache.key(c.device.info.name, lt.version(), plan);
      const tuned = tuneGemm(c.device, c.stream, plan, bufs, cache, key, { warmup: 3, iters: 20 });
      const first = tuned.timings[0]!;
      const flops = gemmFlops(plan.shape);
      timings.push({ label, m, n, k, heuristicMs: first.medianMs ?? NaN, heuristicTflops: first.tflops ?? NaN, bestMs: tuned.medianMs,
        bestTflops: flops / (tuned.medianMs * 1e9), bestIndex: tuned.index, candidates: tuned.timings.map((t) => ({ index: t.index, ms: t.medianMs })) });
    } finally { plan.dispose(); a.dispose(); }
  }
  cache.save();
  // A rebuild reads the cache: every shape must come back without timing.
  const reread = new TimingCache(cachePath);
  let cacheHits = 0;
  for (const [, m, n, k] of shapes) {
    const plan = new GemmPlan(lt, { m, n, k, epilogue: 'none' });
    try { if (reread.get(TimingCache.key(c.device.info.name, lt.version(), plan))) cacheHits++; } finally { plan.dispose(); }
  }
  return { timings, cacheHits, cacheEntries: reread.size };
}

/** The cached winner must also compute the right product (its algo blob reused from JSON). */
export function checkCachedAlgo(c: Ctx, lt: CublasLtHandle, cachePath: string): CheckResult {
  const a = new Arena(c.device, c.stream);
  const plan = new GemmPlan(lt, { m: 64, n: 4096, k: 4096, epilogue: 'none' });
  try {
    const cache = new TimingCache(cachePath);
    const key = TimingCache.key(c.device.info.name, lt.version(), plan);
    const { m, n, k } = plan.shape;
    const A = toBf16(c.rng.floats(m * k)), B = toBf16(c.rng.floats(n * k));
    const dA = a.upload(A.bits), dB = a.upload(B.bits), dD = a.poisoned(m * n * 2);
    const tuned = tuneGemm(c.device, c.stream, plan, { a: dA, b: dB, d: dD }, cache, key);
    dD.fill(0xff, c.stream);
    plan.run(c.stream, tuned.algo, dA, dB, dD);
    const ref = new Float32Array(m * n);
    matmulTransB(A.values, B.values, ref, m, k, n);
    const err = relError(a.bf16(dD, m * n), ref);
    return { name: 'gemm with the cached winner (o_proj, M=64)', pass: tuned.fromCache && err < BF16_TOL, error: err, tolerance: BF16_TOL, note: `from cache: ${tuned.fromCache}, heuristic rank ${tuned.index}` };
  } finally { plan.dispose(); a.dispose(); }
}
