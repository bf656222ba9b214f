import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { CudaError } from '../../../src/backends/cuda/bindings/errors.js';
import { NCCL, NCCL_PROTOTYPES, checkNccl, declareNcclTypes, disableNvls, loadNccl } from '../../../src/backends/cuda/nccl.js';
import { BackendError } from '../../../src/errors/index.js';

const koffi = createRequire(import.meta.url)('koffi') as { proto(p: string): unknown; sizeof(t: string): number };

describe('NCCL prototypes', () => {
  declareNcclTypes();
  it.each(Object.entries(NCCL_PROTOTYPES))('%s parses with koffi and names its own function', (name, proto) => {
    expect(proto).toMatch(new RegExp(`\\b${name}\\(`));
    expect(() => koffi.proto(proto)).not.toThrow();
  });

  it('ncclUniqueId is the 128-byte blob of nccl.h, declared once however often asked', () => {
    declareNcclTypes();
    expect(koffi.sizeof('ncclUniqueId')).toBe(128);
  });

  it('uses the nccl.h enum values for float types and sum', () => {
    expect([NCCL.float16, NCCL.float32, NCCL.bfloat16, NCCL.sum]).toEqual([6, 7, 9, 0]);
  });

  it('never binds a multicast call', () => {
    expect(Object.values(NCCL_PROTOTYPES).join('\n')).not.toMatch(/Multicast/i);
  });
});

describe('NCCL loading and errors', () => {
  it('NVLS is disabled before init, even when the environment enabled it', () => {
    const env: NodeJS.ProcessEnv = {};
    disableNvls(env);
    expect(env['NCCL_NVLS_ENABLE']).toBe('0');
    const chosen: NodeJS.ProcessEnv = { NCCL_NVLS_ENABLE: '1' };
    disableNvls(chosen);
    expect(chosen['NCCL_NVLS_ENABLE']).toBe('0');
  });

  it('a missing libnccl is a BackendError that says what to install', () => {
    expect(() => loadNccl('libnccl-kiln-test-missing.so.2')).toThrow(BackendError);
    expect(() => loadNccl('libnccl-kiln-test-missing.so.2')).toThrow(/install NCCL/);
  });

  it('a failing status becomes a CudaError naming the call', () => {
    expect(() => checkNccl({ ncclGetErrorString: () => 'invalid argument' }, 4, 'ncclAllReduce'))
      .toThrow(new CudaError('ncclAllReduce', 4, 'invalid argument'));
    expect(() => checkNccl(undefined, 0, 'ncclCommDestroy')).not.toThrow();
  });
});
