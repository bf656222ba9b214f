import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { CUBLASLT_PROTOTYPES, DRIVER_PROTOTYPES, LT, NVRTC_PROTOTYPES } from '../../../src/backends/cuda/bindings/prototypes.js';
import { CudaError } from '../../../src/backends/cuda/bindings/errors.js';
import { checkCu, loadDriver } from '../../../src/backends/cuda/bindings/native.js';
import { BackendError } from '../../../src/errors/index.js';

const koffi = createRequire(import.meta.url)('koffi') as { proto(p: string): unknown };

describe('CUDA prototypes', () => {
  const all = { ...DRIVER_PROTOTYPES, ...NVRTC_PROTOTYPES, ...CUBLASLT_PROTOTYPES };
  it.each(Object.entries(all))('%s parses with koffi and names its own function', (name, proto) => {
    expect(proto).toMatch(new RegExp(`\\b${name}\\(`));
    expect(() => koffi.proto(proto)).not.toThrow();
  });

  it("rejects 'unsigned' alone, so the list must spell 'unsigned int'", () => {
    expect(() => koffi.proto('int f(unsigned x)')).toThrow();
    expect(Object.values(all).some((p) => /\bunsigned (?!int|char|long)/.test(p))).toBe(false);
  });

  it('declares the heuristic result as 96 bytes with a 64-byte algo first', () => {
    expect(LT.HEURISTIC_RESULT_BYTES).toBe(96);
    expect(LT.ALGO_BYTES).toBe(64);
    expect([LT.CUDA_R_16BF, LT.COMPUTE_32F, LT.EPILOGUE_BIAS, LT.EPILOGUE_GELU_BIAS]).toEqual([14, 68, 4, 36]);
  });
});

describe('CUDA errors', () => {
  it('a failing driver status becomes a CudaError naming the call', () => {
    expect(() => checkCu(2, 'cuMemAlloc_v2')).toThrow(CudaError);
    expect(() => checkCu(2, 'cuMemAlloc_v2')).toThrow(/cuMemAlloc_v2 failed with .*\(code 2\)/);
    expect(() => checkCu(0, 'cuInit')).not.toThrow();
  });

  it('a missing driver library is one BackendError sentence that points to --target cpu', () => {
    let err: unknown;
    try { loadDriver('libcuda-kiln-test-missing.so.1'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).message).toBe(
      'CUDA backend unavailable: libcuda-kiln-test-missing.so.1 not found (no NVIDIA driver on this machine); use --target cpu');
    expect((err as BackendError).code).toBe('backend_unavailable');
  });
});
