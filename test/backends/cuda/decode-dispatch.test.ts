import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeKernel, decodeScratchFloats, decodeSplits, decodeSplitsV2, decodeSplitsV3, decodeV3TensorCores, V2_MAX_BLOCKS_WITHOUT_SPLITS, V3_MAX_SPLITS, V3_MIN_SPLIT_TOKENS,
} from '../../../src/backends/cuda/ops.js';

const LLAMA = { numHeads: 32, numKvHeads: 8, headDim: 128 };

describe('decode kernel dispatch', () => {
  afterEach(() => { delete process.env['KILN_DECODE_KERNEL']; });

  it('runs v3tc at every batch size for 16-bit KV caches, head_dim 64/128 and groups up to 8', () => {
    for (const n of [0, 1, 2, 8, 9, 64, 256, 1024]) {
      expect(decodeKernel(n, LLAMA)).toBe('v3tc');
      expect(decodeKernel(n, { ...LLAMA, kvDtype: 'bfloat16' })).toBe('v3tc');
      expect(decodeKernel(n, { numHeads: 8, numKvHeads: 2, headDim: 64, kvDtype: 'float16' })).toBe('v3tc');
      expect(decodeKernel(n, { numHeads: 64, numKvHeads: 8, headDim: 128 })).toBe('v3tc');
      expect(decodeKernel(n, { numHeads: 8, numKvHeads: 8, headDim: 128 })).toBe('v3tc');
    }
  });

  it('elsewhere runs v2 while numSeqs × numKvHeads ≤ 64 and v3 beyond', () => {
    const fp8 = { ...LLAMA, kvDtype: 'fp8e4m3' };
    expect(V2_MAX_BLOCKS_WITHOUT_SPLITS).toBe(64);
    expect(decodeKernel(1, fp8)).toBe('v2');
    expect(decodeKernel(8, fp8)).toBe('v2');
    expect(decodeKernel(9, fp8)).toBe('v3');
    expect(decodeKernel(256, fp8)).toBe('v3');
    const mqa32 = { numHeads: 4, numKvHeads: 1, headDim: 32 }; // head_dim 32: no tensor-core kernel
    expect(decodeKernel(64, mqa32)).toBe('v2');
    expect(decodeKernel(65, mqa32)).toBe('v3');
    const hd16 = { numHeads: 4, numKvHeads: 2, headDim: 16 };
    expect(decodeKernel(32, hd16)).toBe('v2');
    expect(decodeKernel(33, hd16)).toBe('v3');
    const group10 = { numHeads: 80, numKvHeads: 8, headDim: 128 }; // GQA group 10 > 8
    expect(decodeKernel(8, group10)).toBe('v2');
    expect(decodeKernel(9, group10)).toBe('v3');
  });

  it('KILN_DECODE_KERNEL forces any kernel; an unknown value is ignored', () => {
    process.env['KILN_DECODE_KERNEL'] = 'v1';
    expect(decodeKernel(1, LLAMA)).toBe('v1');
    expect(decodeKernel(256, { ...LLAMA, kvDtype: 'fp8e4m3' })).toBe('v1');
    process.env['KILN_DECODE_KERNEL'] = 'v2';
    expect(decodeKernel(256, LLAMA)).toBe('v2');
    process.env['KILN_DECODE_KERNEL'] = 'v3';
    expect(decodeKernel(1, LLAMA)).toBe('v3');
    expect(decodeKernel(256, LLAMA)).toBe('v3');
    process.env['KILN_DECODE_KERNEL'] = 'v3tc';
    expect(decodeKernel(256, { ...LLAMA, kvDtype: 'fp8e4m3' })).toBe('v3tc'); // attentionDecodeV3 then runs the CUDA-core v3
    process.env['KILN_DECODE_KERNEL'] = 'v4';
    expect(decodeKernel(256, LLAMA)).toBe('v3tc');
    expect(decodeKernel(1, { ...LLAMA, kvDtype: 'fp8e4m3' })).toBe('v2');
  });

  it('v3tc runs the tensor-core kernel only for head_dim 64/128, groups up to 8 and 16-bit KV caches', () => {
    const llama = { numHeads: 32, numKvHeads: 8, headDim: 128 };
    expect(decodeV3TensorCores(llama)).toBe(true);
    expect(decodeV3TensorCores({ ...llama, kvDtype: 'bfloat16' })).toBe(true);
    expect(decodeV3TensorCores({ numHeads: 8, numKvHeads: 2, headDim: 64, kvDtype: 'float16' })).toBe(true);
    expect(decodeV3TensorCores({ numHeads: 64, numKvHeads: 8, headDim: 128 })).toBe(true);
    expect(decodeV3TensorCores({ ...llama, kvDtype: 'fp8e4m3' })).toBe(false);
    expect(decodeV3TensorCores({ numHeads: 4, numKvHeads: 1, headDim: 32 })).toBe(false);
    expect(decodeV3TensorCores({ numHeads: 4, numKvHeads: 2, headDim: 16 })).toBe(false);
    expect(decodeV3TensorCores({ numHeads: 80, numKvHeads: 8, headDim: 128 })).toBe(false);
  });

  it('v3 splits: none once the batch fills the GPU or the context is short, up to 64 at batch 1', () => {
    expect(decodeSplitsV3(256, 8, 192)).toBe(1); // 2048 blocks already: the kernel writes the output itself
    expect(decodeSplitsV3(256, 8, 32768)).toBe(1);
    expect(decodeSplitsV3(64, 8, 4096)).toBe(4); // 512 (seq, head) pairs → 2048 blocks of 1024 tokens
    expect(decodeSplitsV3(8, 8, 32768)).toBe(32); // 2048 blocks of 1024 tokens
    expect(decodeSplitsV3(1, 8, 2048)).toBe(16); // context-bound: 128-token splits
    expect(decodeSplitsV3(1, 8, 128)).toBe(1); // one launch, no combine
    expect(decodeSplitsV3(1, 8, 129)).toBe(2);
    expect(decodeSplitsV3(1, 1, 1 << 20)).toBe(V3_MAX_SPLITS);
    expect(decodeSplitsV3(0, 8, 0)).toBe(1);
  });

  it('v3 splits cover every context up to maxContext, each split at least V3_MIN_SPLIT_TOKENS long', () => {
    // Mirrors attention_decode_v3: per = max(minSplit, ceil(ctx / splits)), split s covers [s·per, min((s+1)·per, ctx)).
    for (const maxCtx of [1, 127, 128, 129, 3000, 4096, 32768]) {
      for (const n of [1, 3, 64, 256]) {
        const splits = decodeSplitsV3(n, 8, maxCtx);
        for (const ctx of [1, Math.ceil(maxCtx / 2), maxCtx]) {
          const per = Math.max(V3_MIN_SPLIT_TOKENS, Math.ceil(ctx / splits));
          expect(per * splits).toBeGreaterThanOrEqual(ctx);
          const nonEmpty = Array.from({ length: splits }, (_, s) => Math.min((s + 1) * per, ctx) - s * per).filter((len) => len > 0);
          expect(nonEmpty.reduce((a, b) => a + b, 0)).toBe(ctx);
        }
      }
    }
  });

  it('v3 warps visit every token of a split once (head_dim 16..128, GQA groups 1..8)', () => {
    // Mirrors the kernel's loop: 4 warps, lane groups of head_dim / 8 lanes, V3_U = group > 4 ? 2 : 4 tokens each per chunk.
    for (const hd of [16, 32, 64, 128]) {
      for (const group of [1, 4, 8]) {
        const tpw = 32 / (hd / 8), u = group > 4 ? 2 : 4, chunk = tpw * u, stride = 4 * chunk;
        for (const [start, end] of [[0, 1], [128, 300], [0, 3000], [5, 6]] as const) {
          const seen = new Uint8Array(end);
          for (let w = 0; w < 4; w++) {
            for (let base = start + w * chunk; base < end; base += stride) {
              for (let k = 0; k < u; k++) for (let tok = 0; tok < tpw; tok++) { const t = base + k * tpw + tok; if (t < end) seen[t]!++; }
            }
          }
          expect(seen.subarray(start).every((x) => x === 1)).toBe(true);
        }
      }
    }
  });

  it('v2 splits: up to 32 at batch 1, one at large batches', () => {
    expect(decodeSplitsV2(1, 8)).toBe(32);
    expect(decodeSplitsV2(4, 8)).toBe(8);
    expect(decodeSplitsV2(32, 8)).toBe(1);
    expect(decodeSplitsV2(256, 8)).toBe(1);
  });

  it('the scratch holds every kernel at every batch size up to the maximum', () => {
    const heads = 32, hd = 128, maxSeqs = 256, maxCtx = 3072;
    const f = decodeScratchFloats(maxSeqs, heads, hd, maxCtx);
    for (let n = 1; n <= maxSeqs; n++) {
      for (const kvh of [1, 2, 8, 32]) {
        const rows = Math.max(n * decodeSplitsV2(n, kvh), n * decodeSplits(maxCtx), n * decodeSplitsV3(n, kvh, maxCtx));
        expect(rows * heads * hd).toBeLessThanOrEqual(f.out);
        expect(rows * heads).toBeLessThanOrEqual(f.stats);
      }
    }
  });
});
