/** All Kiln kernels for one model's shapes: compiled by NVRTC (or given as cubins), loaded, ready to launch. */
import { compileCubin, nvrtcOptions } from './compiler.js';
import type { CudaDevice, Kernel, Module } from './device.js';
import { KERNEL_FILES, checkKernelShapes, definesFor, prefillSmemBytes, specialise, type KernelFile, type KernelShapes } from './kernels/index.js';

export type KernelEntry = (typeof KERNEL_FILES)[KernelFile]['entries'][number];

export interface CompiledKernelFile {
  readonly file: KernelFile;
  readonly arch: string;
  readonly cubin: Uint8Array;
  readonly compileMs: number;
  readonly log: string;
}

/** Compiles every kernel file for `shapes` and `arch` (e.g. `sm_90`). Needs NVRTC, not a GPU. */
export function compileKernels(shapes: KernelShapes, arch: string, kernelDir?: string): CompiledKernelFile[] {
  checkKernelShapes(shapes);
  const defs = definesFor(shapes);
  return (Object.keys(KERNEL_FILES) as KernelFile[]).map((file) => {
    const out = compileCubin(specialise(file, defs[file], kernelDir), `${file}.cu`, nvrtcOptions(arch));
    return { file, arch, cubin: out.cubin, compileMs: out.compileMs, log: out.log };
  });
}

/** Loaded modules and their kernels. Owns the modules; `dispose()` unloads them. */
export class KernelSet {
  private readonly kernels = new Map<string, Kernel>();
  private constructor(private readonly modules: Module[], readonly shapes: KernelShapes, readonly compiled: readonly CompiledKernelFile[]) {}

  static load(device: CudaDevice, shapes: KernelShapes, compiled: readonly CompiledKernelFile[]): KernelSet {
    const modules: Module[] = [];
    const set = new KernelSet(modules, shapes, compiled);
    try {
      for (const c of compiled) {
        const mod = device.loadModule(c.cubin);
        modules.push(mod);
        for (const entry of KERNEL_FILES[c.file].entries) set.kernels.set(entry, mod.getKernel(entry));
      }
      const smem = prefillSmemBytes(shapes.headDim);
      if (smem > device.info.maxSmemPerBlockOptin) throw new RangeError(`prefill needs ${smem} B shared memory, device allows ${device.info.maxSmemPerBlockOptin}`);
      set.get('attention_prefill').setMaxDynamicSmem(smem);
    } catch (e) {
      set.dispose(); // e.g. an older engine's cubin without an entry this version launches: unload what was loaded
      throw e;
    }
    return set;
  }

  get(entry: KernelEntry): Kernel {
    const k = this.kernels.get(entry);
    if (!k) throw new Error(`kernel ${entry} is not loaded`);
    return k;
  }
  entries(): string[] {
    return [...this.kernels.keys()];
  }
  dispose(): void {
    for (const m of this.modules) m.dispose();
    this.modules.length = 0;
    this.kernels.clear();
  }
}
