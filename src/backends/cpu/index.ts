/** The CPU backend: pure TypeScript kernels, the numerical reference for every other backend. */
import type { Engine } from '../../engine/types.js';
import type { Backend, ContextOptions, ExecutionContext } from '../types.js';
import { CpuContext } from './context.js';

export function createCpuBackend(): Backend {
  return {
    name: 'cpu',
    createContext(engine: Engine, options?: ContextOptions): ExecutionContext {
      return new CpuContext(engine, options);
    },
  };
}

export { CpuContext } from './context.js';
export { CpuKvCache } from './kv-cache.js';
export { matmulTransB, transpose2d } from './kernels/matmul.js';
export { ropeInvFreq, RopeTable } from './kernels/rope.js';
