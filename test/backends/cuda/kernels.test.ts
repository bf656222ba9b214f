import { describe, expect, it } from 'vitest';
import { KERNEL_FILES, checkKernelShapes, definesFor, prefillSmemBytes, readKernelText, specialise, type KernelFile } from '../../../src/backends/cuda/kernels/index.js';
import { ropeInvFreq } from '../../../src/backends/cuda/rope.js';
import { ropeInvFreq as cpuInvFreq } from '../../../src/backends/cpu/kernels/rope.js';
import { ConfigError } from '../../../src/errors/index.js';

const LLAMA3_8B = { hiddenSize: 4096, intermediateSize: 14336, numHeads: 32, numKvHeads: 8, headDim: 128, tokensPerBlock: 16 };

describe('kernel sources', () => {
  it.each(Object.keys(KERNEL_FILES) as KernelFile[])('%s.cu defines its entries and uses every constant it declares', (file) => {
    const text = readKernelText(`${file}.cu`);
    for (const entry of KERNEL_FILES[file].entries) expect(text).toMatch(new RegExp(`extern "C" __global__ void (__launch_bounds__\\([^)]*\\) )?${entry}\\(`));
    for (const name of KERNEL_FILES[file].defines) expect(text).toContain(name);
    expect(text).not.toMatch(/#include/);
  });

  it('specialise puts the defines first, then common.cuh, then the kernel', () => {
    const src = specialise('rope_kv', definesFor(LLAMA3_8B).rope_kv);
    expect(src.split('\n').slice(1, 5)).toEqual(['#define HEAD_DIM 128', '#define NUM_HEADS 32', '#define NUM_KV_HEADS 8', '#define TOKENS_PER_BLOCK 16']);
    expect(src.indexOf('bf16_to_f32')).toBeLessThan(src.indexOf('rope_write_kv'));
  });

  it('specialise refuses a missing constant with a ConfigError', () => {
    expect(() => specialise('attention_decode', { HEAD_DIM: 128 })).toThrow(ConfigError);
    expect(() => specialise('attention_decode', { HEAD_DIM: 128 })).toThrow(/needs an integer NUM_HEADS/);
  });

  it('rejects shapes the kernels cannot run', () => {
    expect(() => checkKernelShapes(LLAMA3_8B)).not.toThrow();
    expect(() => checkKernelShapes({ ...LLAMA3_8B, headDim: 96 })).toThrow(/head_dim 96/);
    expect(() => checkKernelShapes({ ...LLAMA3_8B, numKvHeads: 5 })).toThrow(/not a multiple of 5 KV heads/);
    expect(() => checkKernelShapes({ ...LLAMA3_8B, hiddenSize: 4100 })).toThrow(/multiple of 8/);
  });

  it('rmsnorm threads cover the row in 16-byte vectors, prefill smem fits Hopper', () => {
    expect(definesFor(LLAMA3_8B).rmsnorm).toEqual({ HIDDEN: 4096, THREADS: 256, ACT_F16: 0, KV_FP8: 0 });
    expect(prefillSmemBytes(128)).toBe(192 * 136 * 2);
    expect(prefillSmemBytes(128)).toBeLessThan(227 * 1024);
  });
});

describe('RoPE inverse frequencies', () => {
  it.each([
    { type: 'default' as const },
    { type: 'linear' as const, factor: 4 },
    { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
  ])('match the CPU backend to float32 rounding ($type)', (scaling) => {
    const gpu = ropeInvFreq(128, 500000, scaling);
    const cpu = cpuInvFreq(128, 500000, scaling);
    for (let i = 0; i < 64; i++) expect(Math.abs(gpu[i]! - cpu[i]!)).toBeLessThanOrEqual(Math.abs(cpu[i]!) * 2 ** -23);
  });

  it('llama3 keeps high frequencies and divides the lowest by the factor', () => {
    const s = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
    const inv = ropeInvFreq(128, 500000, s);
    expect(inv[0]).toBe(1);
    expect(inv[63]).toBeCloseTo(1 / 500000 ** (126 / 128) / 8, 12);
  });
});
