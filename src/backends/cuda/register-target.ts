/**
 * Registers the `--target cuda` builder hook. `kiln build` imports this module only when the
 * target is cuda, so CPU builds never load koffi or the GPU driver.
 */
import { registerTargetBuilder } from '../../builder/targets.js';
import { createCudaTargetBuilder, type CudaTargetOptions } from './target-builder.js';

/** Registers (or re-registers with new options) the cuda target builder; returns the unregister function. */
export function registerCudaTarget(options: CudaTargetOptions = {}): () => void {
  return registerTargetBuilder('cuda', createCudaTargetBuilder(options));
}
