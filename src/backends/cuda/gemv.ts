/**
 * The Kiln GEMV (kernels/gemv.cu), a GEMM tactic for decode batches: D[m, n] = A[m, k] · B[n, k]ᵀ
 * (+ bias) (→ relu / gelu) for m ≤ GEMV_MAX_ROWS rows, in the kernels' activation dtype, D in it or
 * float32. The builder times it against cuBLASLt (gemm-tactic.ts) and the PlanRunner launches it
 * where the engine's tactic says `kernel: 'gemv'`. Launches allocate nothing (CUDA-graph safe).
 */
import { arg, type DevicePtr, type Kernel, type LaunchDims, type Stream } from './device.js';
import type { GemmEpilogue } from './gemm.js';

/** Rows up to which a GEMV tactic exists (its widest specialisation). */
export const GEMV_MAX_ROWS = 8;
/** Warps per block (GEMV_WARPS in gemv.cu). */
export const GEMV_WARPS = 4;

export type GemvEntry = 'gemv_m1' | 'gemv_m2' | 'gemv_m4' | 'gemv_m8';

/** Each specialisation: its row capacity and the B rows each warp owns (template M, RW in gemv.cu). */
export const GEMV_KERNELS: readonly { readonly entry: GemvEntry; readonly maxRows: number; readonly rowsPerWarp: number }[] = [
  { entry: 'gemv_m1', maxRows: 1, rowsPerWarp: 2 },
  { entry: 'gemv_m2', maxRows: 2, rowsPerWarp: 2 },
  { entry: 'gemv_m4', maxRows: 4, rowsPerWarp: 4 },
  { entry: 'gemv_m8', maxRows: 8, rowsPerWarp: 4 },
];

/** Whether the GEMV can compute this GEMM: 1 ≤ m ≤ 8 rows and K a multiple of 8 (16-byte rows). */
export function gemvApplies(shape: { readonly m: number; readonly k: number }): boolean {
  return Number.isInteger(shape.m) && shape.m >= 1 && shape.m <= GEMV_MAX_ROWS && shape.k > 0 && shape.k % 8 === 0;
}

/** The specialisation for `m` rows (the smallest capacity ≥ m) and its launch dimensions for N = `n`. */
export function gemvLaunch(m: number, n: number): { entry: GemvEntry; dims: LaunchDims } {
  const spec = GEMV_KERNELS.find((s) => s.maxRows >= m);
  if (!spec || m < 1) throw new RangeError(`the GEMV computes 1..${GEMV_MAX_ROWS} rows, not ${m}`);
  return { entry: spec.entry, dims: { grid: [Math.ceil(n / (GEMV_WARPS * spec.rowsPerWarp))], block: [32 * GEMV_WARPS] } };
}

/** The epilogue as the kernel's runtime arguments: whether it reads a bias, and act 0 none / 1 relu / 2 gelu. */
export function gemvEpilogue(epilogue: GemmEpilogue): { bias: boolean; act: 0 | 1 | 2 } {
  const act = epilogue.startsWith('relu') ? 1 : epilogue.startsWith('gelu') ? 2 : 0;
  return { bias: epilogue.endsWith('bias'), act };
}

export interface GemvArgs {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly epilogue: GemmEpilogue;
  readonly outF32: boolean;
  /** A [m, k]: rows `lda` elements apart (16-byte aligned). */
  readonly a: DevicePtr;
  readonly lda: number;
  /** B [n, k], contiguous. */
  readonly b: DevicePtr;
  /** bias [n]; required when the epilogue has one. */
  readonly bias?: DevicePtr;
  /** D [m, n]: rows `ldd` elements apart (act dtype, or float32 when outF32). */
  readonly d: DevicePtr;
  readonly ldd: number;
}

/** What launching needs from a kernel set (KernelSet fits). */
export interface GemvKernels {
  get(entry: GemvEntry): Kernel;
}

/** Enqueues D = A·Bᵀ (+bias, act) on `stream`. */
export function launchGemv(ks: GemvKernels, stream: Stream | null, g: GemvArgs): void {
  if (!gemvApplies(g)) throw new RangeError(`the GEMV does not apply to M=${g.m} K=${g.k} (needs 1 ≤ M ≤ ${GEMV_MAX_ROWS}, K % 8 = 0)`);
  const ep = gemvEpilogue(g.epilogue);
  const bias = ep.bias ? g.bias : 0;
  if (!bias && ep.bias) throw new Error(`GEMV epilogue ${g.epilogue} needs a bias pointer`);
  const { entry, dims } = gemvLaunch(g.m, g.n);
  ks.get(entry).launch(dims, stream, [
    arg.ptr(g.a), arg.i32(g.lda), arg.i32(g.m), arg.i32(g.n), arg.i32(g.k), arg.ptr(g.b), arg.ptr(bias ?? 0),
    arg.i32(ep.act), arg.ptr(g.d), arg.i32(g.ldd), arg.i32(g.outF32 ? 1 : 0)]);
}
