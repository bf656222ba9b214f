/**
 * The GEMV tactic end to end (see check-gemv.ts): target-builder.ts tuneAll times one small GEMM
 * (N = 2000, K = 4096, bias) at the m = 1 and m = 4 buckets, cuBLASLt against the GEMV; then a
 * PlanRunner with a one-op plan runs each bucket from those tactics (m = 1, and m = 3 in the 4 bucket)
 * eagerly and as a captured CUDA graph, against the CPU. Where cuBLASLt won the timing, the tactic is
 * switched to 'gemv' for the run (said in the note) so the GEMV path is always exercised; the runner's
 * kernel lookups count GEMV launches. A last run with KILN_GEMV=0 must launch none and still match.
 */
import { join } from 'node:path';
import type { DeviceBuffer } from '../../src/backends/cuda/device.js';
import { tacticKey, type TacticsFile } from '../../src/backends/cuda/engine-sections.js';
import type { ActRef, ExecPlan } from '../../src/backends/cuda/exec-plan.js';
import type { CublasLtHandle } from '../../src/backends/cuda/gemm.js';
import type { KernelEntry, KernelSet } from '../../src/backends/cuda/kernel-set.js';
import type { CudaKvCache } from '../../src/backends/cuda/kv-cache.js';
import type { DecodeScratch } from '../../src/backends/cuda/ops.js';
import { PlanRunner } from '../../src/backends/cuda/plan-runner.js';
import type { StepBuffers, StepDims } from '../../src/backends/cuda/step-buffers.js';
import { tuneAll } from '../../src/backends/cuda/target-builder.js';
import { DeviceWeights } from '../../src/backends/cuda/weights.js';
import { matmulTransB } from '../../src/backends/cpu/kernels/matmul.js';
import { gelu } from '../../src/backends/cpu/kernels/elementwise.js';
import type { GemmEpilogue } from '../../src/backends/cuda/gemm.js';
import { Arena, actTol, relError, toAct, type CheckResult } from './harness.js';
import type { Ctx } from './check-kernels.js';

/** The CPU reference: D = A·Bᵀ (+bias) then the epilogue's activation, in f32 from the act-rounded inputs. */
export function cpuGemm(a: Float32Array, b: Float32Array, bias: Float32Array | undefined, m: number, n: number, k: number, epilogue: GemmEpilogue): Float32Array {
  const ref = new Float32Array(m * n);
  matmulTransB(a, b, ref, m, k, n, epilogue.endsWith('bias') ? bias : undefined);
  if (epilogue.startsWith('gelu')) for (let i = 0; i < ref.length; i++) ref[i] = gelu(ref[i]!);
  if (epilogue.startsWith('relu')) for (let i = 0; i < ref.length; i++) ref[i] = Math.max(0, ref[i]!);
  return ref;
}

const N = 2000, K = 4096, EPILOGUE = 'bias' as const;
const act = (slot: number, cols: number): ActRef => ({ kind: 'act', slot, col: 0, stride: cols, cols, f32: false });
const dimsOf = (m: number): StepDims => ({ numTokens: m, numLogits: m, numSeqs: m, maxQueryLen: 1, maxContext: 1, decodeOnly: true, realLogits: m });

/** Runs `m` rows through a PlanRunner with `tactics`; returns the relative error (eager and graph, worst) and GEMV launches. */
function runPlan(c: Ctx, lt: CublasLtHandle, tactics: TacticsFile, weights: DeviceWeights, slots: DeviceBuffer[], ref: Float32Array, m: number): { err: number; gemvLaunches: number } {
  let gemvLaunches = 0;
  const spy = Object.create(c.ks) as KernelSet; // the real kernel set, its lookups counted
  spy.get = (e: KernelEntry) => {
    if (e.startsWith('gemv_')) gemvLaunches++;
    return c.ks.get(e);
  };
  const plan: ExecPlan = { ops: [{ op: 'gemm', x: act(0, K), weight: 'w', bias: 'bias', out: act(1, N), n: N, k: K, epilogue: EPILOGUE, rowsDim: 'num_tokens' }],
    slotBytes: slots.map((s) => s.bytes), outputs: [] };
  // A gemm-only plan touches no KV cache, step inputs or decode scratch.
  const runner = new PlanRunner(plan, { device: c.device, kernels: spy, lt, weights, slots, maxSeqLen: 1, tactics,
    kv: null as unknown as CudaKvCache, inputs: null as unknown as StepBuffers, scratch: null as unknown as DecodeScratch });
  const a = new Arena(c.device, c.stream);
  const dtype = c.ks.shapes.actDtype ?? 'bfloat16';
  try {
    const out = slots[1]!;
    out.fill(0xff, c.stream);
    runner.enqueue(dimsOf(m), c.stream, false);
    const eager = relError(a.act(out, m * N, dtype), ref);
    out.fill(0xff, c.stream);
    c.stream.synchronize();
    c.stream.beginCapture();
    try {
      runner.enqueue(dimsOf(m), c.stream, true);
    } catch (e) {
      try { c.stream.endCapture().dispose(); } catch { /* the capture is invalid: report the first error */ }
      throw e;
    }
    const g = c.stream.endCapture();
    try { g.launch(c.stream); } finally { c.stream.synchronize(); g.dispose(); }
    const graph = relError(a.act(out, m * N, dtype), ref);
    return { err: Math.max(eager, graph), gemvLaunches };
  } finally { runner.dispose(); a.dispose(); }
}

export function checkGemvTactic(c: Ctx, lt: CublasLtHandle, dir: string): CheckResult {
  const lines: string[] = [];
  const before = process.env.KILN_GEMV;
  delete process.env.KILN_GEMV; // the GEMV on, whatever the caller's environment says
  try {
    const tactics = tuneAll(c.device, c.ks, [{ n: N, k: K, epilogue: EPILOGUE, outF32: false }], [1, 4], 256, join(dir, 'timing.json'), (l) => lines.push(l));
    return tacticRuns(c, lt, tactics, lines);
  } finally {
    if (before === undefined) delete process.env.KILN_GEMV; else process.env.KILN_GEMV = before;
  }
}

function tacticRuns(c: Ctx, lt: CublasLtHandle, tactics: TacticsFile, lines: readonly string[]): CheckResult {
  const dtype = c.ks.shapes.actDtype ?? 'bfloat16';
  const weights = new DeviceWeights();
  const a = new Arena(c.device, c.stream);
  try {
    const B = toAct(c.rng.floats(N * K), dtype), bias = toAct(c.rng.floats(N), dtype), X = toAct(c.rng.floats(4 * K), dtype);
    for (const [name, t, shape] of [['w', B, [N, K]], ['bias', bias, [N]]] as const) {
      const buf = c.device.alloc(t.bits.byteLength);
      weights.adopt(name, buf, shape, dtype);
      buf.upload(t.bits, c.stream);
    }
    const slots = [a.upload(X.bits), a.alloc(2 * 4 * N)];
    const notes: string[] = [];
    let pass = true, worst = 0;
    for (const [m, bucket] of [[1, 1], [3, 4]] as const) {
      const key = tacticKey(bucket, N, K, EPILOGUE, false, dtype);
      const t = tactics.entries[key];
      if (!t?.gemv) return { name: 'gemv tactic through tuneAll + PlanRunner', pass: false, note: `tuneAll gave no GEMV timing for ${key}: ${lines.join(' / ')}` };
      const forced = t.kernel !== 'gemv';
      const run = forced ? { ...tactics, entries: { ...tactics.entries, [key]: { ...t, kernel: 'gemv' as const } } } : tactics;
      const ref = cpuGemm(X.values.subarray(0, m * K), B.values, bias.values, m, N, K, EPILOGUE);
      const on = runPlan(c, lt, run, weights, slots, ref, m);
      process.env.KILN_GEMV = '0';
      const off = runPlan(c, lt, run, weights, slots, ref, m);
      delete process.env.KILN_GEMV;
      worst = Math.max(worst, on.err, off.err);
      // One GEMV kernel lookup per enqueue (eager + captured) with the GEMV on, none with KILN_GEMV=0.
      pass &&= on.gemvLaunches === 2 && off.gemvLaunches === 0;
      notes.push(`m=${m} (bucket ${bucket}): tuned ${t.kernel ?? 'cublaslt'} (gemv ${t.gemv.ms.toFixed(4)} ms vs cuBLASLt ${t.gemv.cublasLtMs.toFixed(4)} ms)${forced ? ', forced to gemv for the run' : ''}; gemv launches ${on.gemvLaunches}, with KILN_GEMV=0 ${off.gemvLaunches}`);
    }
    const tol = actTol(dtype);
    return { name: `gemv tactic through tuneAll + PlanRunner (N=${N} K=${K} ${EPILOGUE}, eager + graph)`, pass: pass && worst < tol, error: worst, tolerance: tol,
      note: `${notes.join('; ')} | build log: ${lines.join(' / ')}` };
  } finally {
    weights.dispose(); a.dispose();
  }
}
