/**
 * Backends by name. 'cpu' is built in; 'cuda' is imported lazily so that loading Kiln never
 * touches koffi or the GPU driver unless a CUDA backend is asked for.
 */
import { BackendError } from '../errors/index.js';
import { createCpuBackend } from './cpu/index.js';
import type { Backend } from './types.js';

export type BackendLoader = () => Promise<Backend>;

async function loadCuda(): Promise<Backend> {
  const specifier = './cuda/index.js'; // a variable, so the type checker does not require the module
  const mod = (await import(specifier)) as { createCudaBackend?: () => Backend | Promise<Backend>; default?: Backend };
  if (typeof mod.createCudaBackend === 'function') return await mod.createCudaBackend();
  if (mod.default) return mod.default;
  throw new Error('backends/cuda/index.js exports neither createCudaBackend() nor a default Backend');
}

const BUILT_IN: Readonly<Record<string, BackendLoader>> = {
  cpu: () => Promise.resolve(createCpuBackend()),
  cuda: loadCuda,
};

/** A registry over `loaders` (tests inject fakes; `getBackend` uses the built-in ones). */
export function createBackendRegistry(loaders: Readonly<Record<string, BackendLoader>>) {
  return {
    listBackends: (): string[] => Object.keys(loaders),
    async getBackend(name: string): Promise<Backend> {
      const load = loaders[name];
      if (!load) {
        throw new BackendError(`unknown backend '${name}'; known backends: ${Object.keys(loaders).join(', ')}`);
      }
      try {
        return await load();
      } catch (err) {
        if (err instanceof BackendError) throw err;
        const why = err instanceof Error ? err.message : String(err);
        throw new BackendError(`the '${name}' backend could not be loaded (${why}); use --backend cpu or check the GPU driver and CUDA install`, { cause: err });
      }
    },
  };
}

const registry = createBackendRegistry(BUILT_IN);

/** The backend called `name` ('cpu', 'cuda'); throws `BackendError` if unknown or unavailable. */
export const getBackend = (name: string): Promise<Backend> => registry.getBackend(name);

/** Names `getBackend` knows. */
export const listBackends = (): string[] => registry.listBackends();
