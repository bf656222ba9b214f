/**
 * The CUDA backend's entry points. Nothing here touches the driver until called, so importing this
 * module is safe on machines without a GPU; without one, both functions throw `BackendError`.
 */
import type { Backend } from '../types.js';
import { BackendError } from '../../errors/index.js';
import { CudaContext } from './context.js';
import { CudaDevice, type DeviceInfo } from './device.js';

export { CudaError } from './bindings/errors.js';
export { CudaDevice, DeviceBuffer, Stream, Event, Module, Kernel, CudaGraphExec } from './device.js';
export type { DeviceInfo } from './device.js';
export { CublasLtHandle, GemmPlan } from './gemm.js';
export { TimingCache, tuneGemm } from './gemm-tuner.js';
export { KernelSet, compileKernels } from './kernel-set.js';
export { CudaContext, decodeBuckets, type CudaContextOptions } from './context.js';

/** Opens GPU 0 and reports what it is; throws `BackendError` (one sentence) without a driver or GPU. */
export function probeCuda(): DeviceInfo {
  const device = CudaDevice.open(0);
  try {
    return device.info;
  } finally {
    device.dispose();
  }
}

/** The `cuda` backend. Throws `BackendError` right away when no usable NVIDIA driver/GPU is present. */
export function createCudaBackend(): Backend {
  const info = probeCuda();
  if (info.computeCapability[0] < 8) {
    throw new BackendError(`CUDA backend unavailable: ${info.name} (${info.arch}) is older than sm_80, which the kernels need; use --target cpu`);
  }
  return {
    name: 'cuda',
    createContext(engine, options) {
      return new CudaContext(engine, options);
    },
  };
}
