import { describe, expect, it } from 'vitest';
import { INT4_GEMV_TABLE, INT4_MMA_VARIANTS, INT4_MMA_VARIANT_NAMES, canRunInt4Mma, int4GemvKernel, pickInt4MmaVariant, type Int4GemvRule } from '../../../src/backends/cuda/int4-gemv.js';
import { KERNEL_FILES, readKernelText } from '../../../src/backends/cuda/kernels/index.js';

const TABLE: readonly Int4GemvRule[] = [
  { maxRows: 1, maxN: 6144, variant: 'mma_w4a8' },
  { minN: 16384, minK: 4096, maxK: 4096, variant: 'mma_w8a4' },
  { maxRows: 4, minK: 8192, variant: 'mma_w8s4z' },
  { variant: 'mma_w8s4' },
];

describe('int4 GEMV variant selection', () => {
  it('keeps the original tensor-core kernel for every shape until the variants are timed', () => {
    expect(INT4_GEMV_TABLE).toEqual([{ variant: 'mma' }]);
    for (const [rows, n, k] of [[1, 6144, 4096], [1, 4096, 4096], [8, 28672, 4096], [4, 4096, 14336]] as const) {
      expect(pickInt4MmaVariant({ rows, n, k })).toBe('mma');
    }
  });

  it('takes the first table row whose inclusive bounds all hold', () => {
    expect(pickInt4MmaVariant({ rows: 1, n: 6144, k: 4096 }, TABLE)).toBe('mma_w4a8');
    expect(pickInt4MmaVariant({ rows: 1, n: 6145, k: 4096 }, TABLE)).toBe('mma_w8s4');
    expect(pickInt4MmaVariant({ rows: 2, n: 4096, k: 4096 }, TABLE)).toBe('mma_w8s4');
    expect(pickInt4MmaVariant({ rows: 1, n: 28672, k: 4096 }, TABLE)).toBe('mma_w8a4');
    expect(pickInt4MmaVariant({ rows: 8, n: 28672, k: 4096 }, TABLE)).toBe('mma_w8a4');
    expect(pickInt4MmaVariant({ rows: 8, n: 28672, k: 4224 }, TABLE)).toBe('mma_w8s4');
    expect(pickInt4MmaVariant({ rows: 4, n: 4096, k: 14336 }, TABLE)).toBe('mma_w8s4z');
    expect(pickInt4MmaVariant({ rows: 5, n: 4096, k: 14336 }, TABLE)).toBe('mma_w8s4');
    expect(pickInt4MmaVariant({ rows: 5, n: 4096, k: 14336 }, [{ maxRows: 4, variant: 'mma_w4s4' }])).toBe('mma');
  });

  it('resolves forced, env and table choices, falling back to fma where the tensor-core kernels do not apply', () => {
    const shape = { rows: 1, n: 4096 };
    expect(int4GemvKernel(4096, 128, undefined, {}, shape, TABLE)).toBe('mma_w4a8');
    expect(int4GemvKernel(4096, 128, undefined, { KILN_WO_GEMV_INT4: 'mma_w4s4' }, shape, TABLE)).toBe('mma_w4s4');
    expect(int4GemvKernel(4096, 128, undefined, { KILN_WO_GEMV_INT4: 'fma' }, shape, TABLE)).toBe('fma');
    expect(int4GemvKernel(4096, 128, undefined, { KILN_WO_GEMV_INT4: 'mma_w99' }, shape, TABLE)).toBe('mma_w4a8');
    expect(int4GemvKernel(4096, 128, 'mma', { KILN_WO_GEMV_INT4: 'fma' }, shape, TABLE)).toBe('mma');
    expect(int4GemvKernel(4160, 64, 'mma_w8a4', {}, shape, TABLE)).toBe('fma');
    expect(int4GemvKernel(4096, 48, undefined, {}, shape, TABLE)).toBe('fma');
    expect([canRunInt4Mma(4096, 32), canRunInt4Mma(4096, 16), canRunInt4Mma(4032, 64)]).toEqual([true, false, false]);
  });

  it('names kernel entries that wo_gemm.cu defines with the launch bounds of the threads launched', () => {
    const src = readKernelText('wo_gemm.cu');
    const entries: readonly string[] = KERNEL_FILES.wo_gemm.entries;
    expect(INT4_MMA_VARIANT_NAMES).toHaveLength(6);
    for (const name of INT4_MMA_VARIANT_NAMES) {
      const { entry, threads } = INT4_MMA_VARIANTS[name];
      expect(entries).toContain(entry);
      const m = new RegExp(`__launch_bounds__\\(([^,)]+)(?:, \\d+)?\\) ${entry}\\(`).exec(src);
      expect(m, entry).not.toBeNull();
      const bound = m![1]!.replace('TC_WARPS', '8').split('*').reduce((p, x) => p * Number(x.trim()), 1);
      expect(bound, entry).toBe(threads);
      expect(threads).toBeGreaterThanOrEqual(8 * 16); // the epilogue writes m ≤ 8 rows × 16 outputs with one thread each
    }
  });
});
