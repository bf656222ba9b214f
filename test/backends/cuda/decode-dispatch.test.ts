import { afterEach, describe, expect, it } from 'vitest';
import { decodeKernel, decodeScratchFloats, decodeSplits, decodeSplitsV2, V2_MAX_BLOCKS_WITHOUT_SPLITS } from '../../../src/backends/cuda/ops.js';

describe('decode kernel dispatch', () => {
  afterEach(() => { delete process.env['KILN_DECODE_KERNEL']; });

  it('runs v2 while the batch cannot fill the GPU and v1 beyond', () => {
    expect(decodeKernel(1, 8)).toBe('v2');
    expect(decodeKernel(V2_MAX_BLOCKS_WITHOUT_SPLITS / 8, 8)).toBe('v2');
    expect(decodeKernel(V2_MAX_BLOCKS_WITHOUT_SPLITS / 8 + 1, 8)).toBe('v1');
    expect(decodeKernel(256, 8)).toBe('v1');
  });

  it('KILN_DECODE_KERNEL forces either kernel', () => {
    process.env['KILN_DECODE_KERNEL'] = 'v1';
    expect(decodeKernel(1, 8)).toBe('v1');
    process.env['KILN_DECODE_KERNEL'] = 'v2';
    expect(decodeKernel(256, 8)).toBe('v2');
  });

  it('v2 splits: up to 32 at batch 1, one at large batches', () => {
    expect(decodeSplitsV2(1, 8)).toBe(32);
    expect(decodeSplitsV2(4, 8)).toBe(8);
    expect(decodeSplitsV2(32, 8)).toBe(1);
    expect(decodeSplitsV2(256, 8)).toBe(1);
  });

  it('the scratch holds either kernel at every batch size up to the maximum', () => {
    const heads = 32, hd = 128, maxSeqs = 256, maxCtx = 3072;
    const f = decodeScratchFloats(maxSeqs, heads, hd, maxCtx);
    for (let n = 1; n <= maxSeqs; n++) {
      for (const kvh of [1, 2, 8, 32]) {
        const rows = Math.max(n * decodeSplitsV2(n, kvh), n * decodeSplits(maxCtx));
        expect(rows * heads * hd).toBeLessThanOrEqual(f.out);
        expect(rows * heads).toBeLessThanOrEqual(f.stats);
      }
    }
  });
});
