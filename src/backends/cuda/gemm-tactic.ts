/**
 * The GEMM tactic of one (rows bucket, shape): cuBLASLt's tuned winner (gemm-tuner.ts), and for decode
 * buckets (m ≤ GEMV_MAX_ROWS) the Kiln GEMV (gemv.ts) timed against that winner, kept when faster, as
 * TensorRT-LLM keeps its custom GEMV kernels as tactics. The two are compared on equal terms: both as
 * CUDA graphs of back-to-back calls (how decode runs them: per-launch event pairs would time the host's
 * launch overhead, larger for cuBLASLt, for kernels of ~10 µs), cycling through copies of the weight
 * so each call reads HBM, not the L2 a repeated small weight would sit in. KILN_GEMV=0 turns it off
 * (build: cuBLASLt only; run: tactics saying 'gemv' run their cuBLASLt algorithm).
 */
import type { CudaDevice, DeviceBuffer, Stream } from './device.js';
import type { Tactic } from './engine-sections.js';
import type { GemmPlan } from './gemm.js';
import { gemvApplies, launchGemv, type GemvKernels } from './gemv.js';
import { tuneGemm, type TimingCache, type TunedGemm } from './gemm-tuner.js';
import { timeOnDevice, type TimingOptions } from './timing.js';

export type GemmKernel = 'cublaslt' | 'gemv';

/** False when KILN_GEMV=0 (forces cuBLASLt for A/B runs). */
export function gemvEnabled(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return env['KILN_GEMV'] !== '0';
}

/** The kernel to keep: the GEMV only when it was timed and is strictly faster than cuBLASLt's best. */
export function pickGemmKernel(cublasLtMs: number, gemvMs: number | null | undefined): GemmKernel {
  return gemvMs !== null && gemvMs !== undefined && Number.isFinite(gemvMs) && gemvMs > 0 && gemvMs < cublasLtMs ? 'gemv' : 'cublaslt';
}

/** Whether the runner launches the GEMV for this tactic: the tactic says so, it applies, and KILN_GEMV is not 0. */
export function runsGemv(t: Pick<Tactic, 'kernel'> | undefined, shape: { readonly m: number; readonly k: number },
  env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return t?.kernel === 'gemv' && gemvApplies(shape) && gemvEnabled(env);
}

/** How many copies of a [n, k] 16-bit weight fit in `bBytes` (1..maxCopies): the timing rotates through them. */
export function weightCopies(bBytes: number, n: number, k: number, maxCopies = 8): number {
  return Math.max(1, Math.min(maxCopies, Math.floor(bBytes / (2 * n * k))));
}

/** Milliseconds per call of `enqueue(i)`, from a CUDA graph of `reps` calls (i = 0..reps-1), median of `opts.iters` replays. */
export function graphTimeMs(device: CudaDevice, stream: Stream, enqueue: (i: number) => void, reps = 20, opts: TimingOptions = { warmup: 2, iters: 5 }): number {
  enqueue(0); // first call outside the capture (lazy module loading, cuBLASLt setup)
  stream.synchronize();
  stream.beginCapture();
  try {
    for (let i = 0; i < reps; i++) enqueue(i);
  } catch (e) {
    try { stream.endCapture().dispose(); } catch { /* the capture is invalid anyway: report the first error */ }
    throw e;
  }
  const g = stream.endCapture();
  try {
    return timeOnDevice(device, stream, () => g.launch(stream), opts) / reps;
  } finally {
    g.dispose();
  }
}

export interface TacticBuffers {
  /** A: ≥ m·k activations; B: ≥ n·k (copies rotate through what fits); D: ≥ m·n of the output dtype; bias ≥ n. */
  readonly a: DeviceBuffer;
  readonly b: DeviceBuffer;
  readonly d: DeviceBuffer;
  readonly bias?: DeviceBuffer;
}

/** The GEMV and cuBLASLt's `algo` on the same buffers, both graph-timed (best of two rounds each). */
export function timeGemvVsCublasLt(device: CudaDevice, stream: Stream, ks: GemvKernels, plan: GemmPlan, tuned: Pick<TunedGemm, 'algo'>,
  bufs: TacticBuffers): { ms: number; cublasLtMs: number } {
  const { m, n, k, epilogue } = plan.shape;
  const outF32 = plan.shape.outF32 ?? false;
  const copies = weightCopies(bufs.b.bytes, n, k);
  const bAt = (i: number): number => bufs.b.ptr + (i % copies) * 2 * n * k;
  const lt = (): number => graphTimeMs(device, stream, (i) => plan.run(stream, tuned.algo, bufs.a, bAt(i), bufs.d, bufs.bias));
  const gemv = (): number => graphTimeMs(device, stream, (i) => launchGemv(ks, stream, {
    m, n, k, epilogue, outF32, a: bufs.a.ptr, lda: k, b: bAt(i), ...(bufs.bias ? { bias: bufs.bias.ptr } : {}), d: bufs.d.ptr, ldd: n,
  }));
  const lt1 = lt(), gemv1 = gemv(); // two interleaved rounds, so clock ramps hit both alike
  const lt2 = lt(), gemv2 = gemv();
  return { ms: Math.min(gemv1, gemv2), cublasLtMs: Math.min(lt1, lt2) };
}

export interface GemmTacticResult {
  readonly tactic: Tactic;
  readonly tuned: TunedGemm;
  /** The build log's line for it (after `tactic <dtype> m= n= k= <epilogue>: `). */
  readonly summary: string;
}

/** The build log's text for a tactic (after `tactic <dtype> m= n= k= <epilogue>: `); `gemv` when the GEMV was timed. */
export function tacticSummary(tuned: Pick<TunedGemm, 'index' | 'medianMs' | 'timings' | 'fromCache'>, gemv?: { readonly ms: number; readonly cublasLtMs: number }): string {
  const first = tuned.timings.find((x) => x.index === 0)?.medianMs;
  const heuristic = first ? `heuristic #0 ${first.toFixed(4)} ms` : '';
  const fromCache = tuned.fromCache ? ' [timing cache]' : '';
  const tuning = `#${tuned.index} ${tuned.medianMs.toFixed(4)} ms`;
  if (!gemv) return `${tuning}${heuristic ? ` (${heuristic})` : ''}${fromCache}`;
  if (pickGemmKernel(gemv.cublasLtMs, gemv.ms) === 'gemv') {
    return `kiln gemv ${gemv.ms.toFixed(4)} ms (cuBLASLt best #${tuned.index} ${gemv.cublasLtMs.toFixed(4)} ms, both graph-timed; tuning ${tuning}${heuristic ? `, ${heuristic}` : ''})${fromCache}`;
  }
  return `${tuning} (${heuristic ? `${heuristic}; ` : ''}graph-timed: cuBLASLt ${gemv.cublasLtMs.toFixed(4)} ms vs kiln gemv ${gemv.ms.toFixed(4)} ms)${fromCache}`;
}

/**
 * cuBLASLt's tuned winner for `plan`, then (decode buckets, GEMV on) the GEMV against it; both results
 * go into `cache` under `key` (a cached GEMV timing is reused) and into the returned tactic.
 */
export function tuneGemmTactic(device: CudaDevice, stream: Stream, ks: GemvKernels, plan: GemmPlan, bufs: TacticBuffers, cache: TimingCache,
  key: string, opts: TimingOptions = {}): GemmTacticResult {
  const tuned = tuneGemm(device, stream, plan, bufs, cache, key, opts);
  const base: Tactic = { algoHex: tuned.algo.algo.toString('hex'), workspaceBytes: tuned.algo.workspaceBytes, medianMs: tuned.medianMs, index: tuned.index };
  if (!gemvEnabled() || !gemvApplies(plan.shape)) return { tactic: base, tuned, summary: tacticSummary(tuned) };
  const entry = cache.get(key);
  const gemv = entry?.gemv ?? timeGemvVsCublasLt(device, stream, ks, plan, tuned, bufs);
  const kernel = pickGemmKernel(gemv.cublasLtMs, gemv.ms);
  if (entry && !entry.gemv) cache.set(key, { ...entry, kernel, gemv });
  return { tactic: { ...base, kernel, gemv }, tuned, summary: tacticSummary(tuned, gemv) };
}
