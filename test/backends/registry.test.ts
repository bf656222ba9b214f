import { describe, expect, it } from 'vitest';
import { createBackendRegistry, getBackend, listBackends } from '../../src/backends/registry.js';
import type { Backend } from '../../src/backends/types.js';
import { BackendError } from '../../src/errors/index.js';

describe('backend registry', () => {
  it('has cpu built in and knows cuda', async () => {
    expect(listBackends()).toEqual(['cpu', 'cuda']);
    const cpu = await getBackend('cpu');
    expect(cpu.name).toBe('cpu');
  });

  it('an unknown name lists the known ones', async () => {
    await expect(getBackend('tpu')).rejects.toThrow(new BackendError("unknown backend 'tpu'; known backends: cpu, cuda"));
  });

  it('a loader that fails becomes one BackendError that keeps the cause', async () => {
    const cause = new Error('libcuda.so.1: cannot open shared object file');
    const reg = createBackendRegistry({ cuda: () => Promise.reject(cause) });
    const err: unknown = await reg.getBackend('cuda').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).message).toBe(
      "the 'cuda' backend could not be loaded (libcuda.so.1: cannot open shared object file); use --backend cpu or check the GPU driver and CUDA install",
    );
    expect((err as BackendError).cause).toBe(cause);
  });

  it('a BackendError from a loader passes through unchanged; a good loader is used', async () => {
    const own = new BackendError('no GPU found');
    const fake: Backend = { name: 'fake', createContext: () => { throw new Error('unused'); } };
    const reg = createBackendRegistry({ a: () => Promise.reject(own), b: () => Promise.resolve(fake) });
    await expect(reg.getBackend('a')).rejects.toBe(own);
    await expect(reg.getBackend('b')).resolves.toBe(fake);
  });

  it('cuda either loads or fails with a BackendError (never another error type)', async () => {
    const result = await getBackend('cuda').then((b) => b.name, (e: unknown) => e);
    if (typeof result === 'string') expect(result).toBe('cuda');
    else expect(result).toBeInstanceOf(BackendError);
  });
});
