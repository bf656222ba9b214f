import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { CudaError } from '../../../src/backends/cuda/bindings/errors.js';
import { NcclCommunicator } from '../../../src/backends/cuda/collective.js';
import type { Stream } from '../../../src/backends/cuda/device.js';
import { NCCL, NCCL_PROTOTYPES, checkNccl, declareNcclTypes, disableNvls, loadNccl, type NcclApi } from '../../../src/backends/cuda/nccl.js';
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

describe('NcclCommunicator abort (fake libnccl)', () => {
  /** An NcclApi recording calls; ncclCommInitRank hands out `comm`. */
  function fakeApi(): { api: NcclApi; calls: string[]; comm: object } {
    const comm = { fake: 'comm' };
    const calls: string[] = [];
    const record = (name: string, status = 0) => (...args: unknown[]): unknown => {
      calls.push(`${name}${args[0] === comm ? '(comm)' : ''}`);
      if (name === 'ncclCommInitRank') (args[0] as unknown[])[0] = comm;
      if (name === 'ncclCommGetAsyncError') (args[1] as number[])[0] = 6;
      return status;
    };
    const api = Object.fromEntries(Object.keys(NCCL_PROTOTYPES).map((n) => [n, record(n)])) as unknown as NcclApi;
    return { api, calls, comm };
  }
  const stream = { handle: {} } as unknown as Stream;

  it('abort() calls ncclCommAbort once; later collectives throw; dispose() never calls ncclCommDestroy', () => {
    const { api, calls } = fakeApi();
    const c = NcclCommunicator.create(new Uint8Array(128), 0, 2, api);
    expect(c.asyncError()).toBe(6); // ncclRemoteError, as NCCL reports a failed peer
    expect(c.abort()).toBe(0);
    expect(c.abort()).toBe(0);
    expect(c.isAborted).toBe(true);
    expect(() => c.allReduceSum(0, 4, 'float32', stream)).toThrow(/was aborted \(a rank of its group failed\)/);
    c.dispose();
    expect(calls).toEqual(['ncclCommInitRank', 'ncclCommGetAsyncError(comm)', 'ncclCommAbort(comm)']);
  });

  it('without an abort, dispose() destroys the communicator once', () => {
    const { api, calls } = fakeApi();
    const c = NcclCommunicator.create(new Uint8Array(128), 1, 2, api);
    c.dispose();
    c.dispose();
    expect(c.abort()).toBe(0); // nothing left to abort
    expect(calls).toEqual(['ncclCommInitRank', 'ncclCommDestroy(comm)']);
  });
});
