/**
 * Compiles every kernel with NVRTC for Llama-3-8B shapes and prints each cubin's size and compile time.
 * Runs without a GPU where libnvrtc is on the library path: `npx tsx scripts/cuda/compile-kernels.ts [arch]`.
 */
import { compileCubin, nvrtcOptions } from '../../src/backends/cuda/compiler.js';
import { KERNEL_FILES, definesFor, specialise, type KernelFile } from '../../src/backends/cuda/kernels/index.js';

const shapes = { hiddenSize: 4096, intermediateSize: 14336, numHeads: 32, numKvHeads: 8, headDim: 128, tokensPerBlock: 16 };
const arch = process.argv[2] ?? 'sm_90';
const defs = definesFor(shapes);
for (const file of Object.keys(KERNEL_FILES) as KernelFile[]) {
  const out = compileCubin(specialise(file, defs[file]), `${file}.cu`, nvrtcOptions(arch));
  console.log(`${file}: ${out.cubin.length} bytes in ${out.compileMs.toFixed(0)} ms${out.log ? `\n  log: ${out.log}` : ''}`);
}
