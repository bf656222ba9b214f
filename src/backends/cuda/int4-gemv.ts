/**
 * The int4 weight-only GEMV kernels (kernels/wo_gemm.cu) and which one a shape runs: 'fma' (CUDA cores,
 * wo_gemv_int4_m{1,2,4,8}) or one of the tensor-core variants below (16 output rows per block, K split
 * over the block's warps). The variants differ only in how many weight bytes a warp keeps in flight:
 *   mma        8 warps, next slice prefetched in registers (80 registers, 3 blocks / SM) — the default;
 *   mma_w8s4   8 warps, 4 slices in registers (128 registers, 2 blocks / SM);
 *   mma_w4s4   4 warps, 4 slices in registers (128 registers, 4 blocks / SM);
 *   mma_w8s4z  mma_w8s4 with A = u − z instead of the Σ x MMA (half the MMAs, 4 more HFMA2 per MMA);
 *   mma_w8a4   8 warps, cp.async into shared memory 3 slices ahead (66 registers, 45 KB, 3 blocks / SM);
 *   mma_w4a8   4 warps, cp.async 7 slices ahead (95 registers, 43 KB, 5 blocks / SM).
 * (A slice is 128 K columns × 16 rows = 1 KB of packed weights per warp.) `INT4_GEMV_TABLE` picks one
 * per shape; edit it from the device check's `wo_gemv int4 variants` rows. KILN_WO_GEMV_INT4=<name>
 * forces one (`fma` the CUDA-core kernel).
 */
import type { KernelEntry } from './kernel-set.js';

/** Output rows per tensor-core GEMV block (TC_ROWS) and K columns of one warp step at group % 128 == 0. */
export const INT4_MMA_ROWS = 16;
const INT4_MMA_SLICE = 128;

/** Every tensor-core variant: its kernel entry and threads per block (warps · 32). */
export const INT4_MMA_VARIANTS = {
  mma: { entry: 'wo_gemv_int4_mma', threads: 256 },
  mma_w8s4: { entry: 'wo_gemv_int4_mma_w8s4', threads: 256 },
  mma_w4s4: { entry: 'wo_gemv_int4_mma_w4s4', threads: 128 },
  mma_w8s4z: { entry: 'wo_gemv_int4_mma_w8s4z', threads: 256 },
  mma_w8a4: { entry: 'wo_gemv_int4_mma_w8a4', threads: 256 },
  mma_w4a8: { entry: 'wo_gemv_int4_mma_w4a8', threads: 128 },
} as const satisfies Record<string, { entry: KernelEntry; threads: number }>;

export type Int4MmaVariant = keyof typeof INT4_MMA_VARIANTS;
/** The int4 GEMV kernels: 'fma' (CUDA cores) or a tensor-core variant. */
export type Int4GemvKernel = 'fma' | Int4MmaVariant;

export const INT4_MMA_VARIANT_NAMES = Object.keys(INT4_MMA_VARIANTS) as Int4MmaVariant[];

/** One row of the selection table: it matches when every given bound holds (bounds inclusive). */
export interface Int4GemvRule {
  readonly maxRows?: number;
  readonly minN?: number;
  readonly maxN?: number;
  readonly minK?: number;
  readonly maxK?: number;
  readonly variant: Int4MmaVariant;
}

/**
 * Shape → variant, first matching row wins (the last row should match everything). Until the variants
 * are timed on the device every shape keeps the original kernel. Example rows once measured:
 *   { maxRows: 1, maxN: 6144, variant: 'mma_w4a8' }   // qkv / o / down at M=1
 *   { minN: 16384, variant: 'mma_w8a4' }               // gate_up
 */
export const INT4_GEMV_TABLE: readonly Int4GemvRule[] = [
  { variant: 'mma' },
];

/** The table's variant for `rows` × N × K ('mma' when no row matches). */
export function pickInt4MmaVariant(shape: { readonly rows: number; readonly n: number; readonly k: number },
  table: readonly Int4GemvRule[] = INT4_GEMV_TABLE): Int4MmaVariant {
  const { rows, n, k } = shape;
  const hit = table.find((r) => (r.maxRows === undefined || rows <= r.maxRows) && (r.minN === undefined || n >= r.minN) &&
    (r.maxN === undefined || n <= r.maxN) && (r.minK === undefined || k >= r.minK) && (r.maxK === undefined || k <= r.maxK));
  return hit?.variant ?? 'mma';
}

/** Whether the tensor-core kernels handle K × groupSize (K % 128 == 0, groupSize % 32 == 0). */
export function canRunInt4Mma(k: number, groupSize: number): boolean {
  return k % INT4_MMA_SLICE === 0 && groupSize % 32 === 0;
}

const isKernel = (s: string | undefined): s is Int4GemvKernel => s === 'fma' || (s !== undefined && s in INT4_MMA_VARIANTS);

/**
 * The int4 GEMV kernel for K × groupSize: `forced`, else KILN_WO_GEMV_INT4 from `env` (fma or a variant
 * name; others are ignored), else the table's pick for `rows` × `n` (defaults 1 × 0); any tensor-core
 * kernel only where canRunInt4Mma holds, 'fma' otherwise.
 */
export function int4GemvKernel(k: number, groupSize: number, forced?: Int4GemvKernel,
  env: Readonly<Record<string, string | undefined>> = process.env, shape: { readonly rows: number; readonly n: number } = { rows: 1, n: 0 },
  table: readonly Int4GemvRule[] = INT4_GEMV_TABLE): Int4GemvKernel {
  const fromEnv = env['KILN_WO_GEMV_INT4'];
  const want = forced ?? (isKernel(fromEnv) ? fromEnv : pickInt4MmaVariant({ ...shape, k }, table));
  return want !== 'fma' && canRunInt4Mma(k, groupSize) ? want : 'fma';
}
