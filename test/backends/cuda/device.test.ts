/**
 * Runs on a machine with an NVIDIA GPU (and NVRTC); elsewhere each suite skips with one line saying why.
 * The full check with timings is scripts/cuda/check.ts; this is its quick correctness subset.
 */
import { describe, expect, it } from 'vitest';
import { probeCuda } from '../../../src/backends/cuda/index.js';
import { createCudaBackend } from '../../../src/backends/cuda/index.js';
import { loadNvrtc } from '../../../src/backends/cuda/bindings/native.js';
import { compileKernels } from '../../../src/backends/cuda/kernel-set.js';
import { BackendError } from '../../../src/errors/index.js';

function why(fn: () => unknown): string | null {
  try { fn(); return null; } catch (e) { if (e instanceof BackendError) return e.message; throw e; }
}

const noGpu = why(probeCuda);
const noNvrtc = why(loadNvrtc);
if (noGpu) console.log(`skipping CUDA device tests: ${noGpu}`);
if (noNvrtc) console.log(`skipping NVRTC compile test: ${noNvrtc}`);

const LLAMA3_8B = { hiddenSize: 4096, intermediateSize: 14336, numHeads: 32, numKvHeads: 8, headDim: 128, tokensPerBlock: 16 };

describe('createCudaBackend', () => {
  it.runIf(noGpu !== null)('without a GPU throws the same one-sentence BackendError as the probe', () => {
    expect(() => createCudaBackend()).toThrow(BackendError);
    expect(() => createCudaBackend()).toThrow(/^CUDA backend unavailable: .*; use --target cpu$/);
  });
});

describe.skipIf(noNvrtc !== null)('NVRTC', () => {
  it('compiles every kernel for sm_90 to a CUBIN without warnings', () => {
    const out = compileKernels(LLAMA3_8B, 'sm_90');
    expect(out.map((c) => c.file).sort()).toEqual(['attention_decode', 'attention_decode_v3', 'attention_prefill', 'embedding', 'fill', 'gemv', 'quant_act', 'rmsnorm',
      'rope_kv', 'sampling', 'silu_mul', 'wo_gemm']);
    for (const c of out) {
      expect(c.cubin.subarray(0, 4)).toEqual(new Uint8Array([0x7f, 0x45, 0x4c, 0x46])); // ELF
      expect(c.log).toBe('');
    }
  });
});

describe.skipIf(noGpu !== null)('on the GPU', () => {
  it('runs the device checks (scripts/cuda/check.ts) and they all pass', async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync('npx', ['tsx', 'scripts/cuda/check.ts'], { encoding: 'utf8', timeout: 600_000 });
    expect(out).toContain('ALL CHECKS PASSED');
  });
});
