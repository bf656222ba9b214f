/** NVRTC: CUDA C++ source → CUBIN for one GPU architecture, in process. */
import { checkNvrtc, loadNvrtc, type NvrtcApi } from './bindings/native.js';

export interface CompiledCubin {
  readonly cubin: Uint8Array;
  /** The compiler's warnings (empty when clean). */
  readonly log: string;
  readonly compileMs: number;
}

/** Options for an architecture: `sm_90`, or `sm_90a` for wgmma/setmaxnreg. */
export function nvrtcOptions(arch: string, extra: readonly string[] = []): string[] {
  return [`--gpu-architecture=${arch}`, '--std=c++17', '-default-device', ...extra];
}

function programLog(api: NvrtcApi, prog: unknown): string {
  const size = [0];
  checkNvrtc(api.nvrtcGetProgramLogSize(prog, size), 'nvrtcGetProgramLogSize');
  const buf = Buffer.alloc(Number(size[0]));
  checkNvrtc(api.nvrtcGetProgramLog(prog, buf), 'nvrtcGetProgramLog');
  return buf.toString('utf8').replace(/\0+$/, '').trim();
}

/** Compiles `source` (named `name` in diagnostics). Throws `CudaError` with the compile log on errors. */
export function compileCubin(source: string, name: string, options: readonly string[]): CompiledCubin {
  const api = loadNvrtc();
  const t0 = performance.now();
  const prog: unknown[] = [null];
  checkNvrtc(api.nvrtcCreateProgram(prog, source, name, 0, null, null), 'nvrtcCreateProgram');
  try {
    const status = api.nvrtcCompileProgram(prog[0], options.length, [...options]);
    const log = programLog(api, prog[0]);
    checkNvrtc(status, `nvrtcCompileProgram(${name})`, log);
    const size = [0];
    checkNvrtc(api.nvrtcGetCUBINSize(prog[0], size), 'nvrtcGetCUBINSize');
    const cubin = new Uint8Array(Number(size[0]));
    checkNvrtc(api.nvrtcGetCUBIN(prog[0], cubin), 'nvrtcGetCUBIN');
    return { cubin, log, compileMs: performance.now() - t0 };
  } finally {
    api.nvrtcDestroyProgram(prog);
  }
}
