/**
 * The kernel sources (`*.cu` beside this file) and their specialisation: a generated prelude of
 * `#define`s (HIDDEN, HEAD_DIM, ...) plus `common.cuh`, so every shape is a compile-time constant.
 * The result is plain CUDA C++ for NVRTC; compiled cubins are what engines store.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../../errors/index.js';

/** Every kernel file, the `extern "C"` entry points it defines and the constants it needs. */
export const KERNEL_FILES = {
  embedding: { entries: ['embedding'], defines: ['HIDDEN'] },
  rmsnorm: { entries: ['add_rmsnorm'], defines: ['HIDDEN', 'THREADS'] },
  silu_mul: { entries: ['silu_mul'], defines: ['INTER'] },
  rope_kv: { entries: ['rope_write_kv'], defines: ['HEAD_DIM', 'NUM_HEADS', 'NUM_KV_HEADS', 'TOKENS_PER_BLOCK'] },
  attention_decode: {
    entries: ['attention_decode', 'attention_decode_v2', 'attention_decode_combine'],
    defines: ['HEAD_DIM', 'NUM_HEADS', 'NUM_KV_HEADS', 'TOKENS_PER_BLOCK', 'PARTITION', 'THREADS'],
  },
  /** v3 decode (CUDA cores and tensor cores); specialised like attention_decode, whose combine kernel merges its splits. */
  attention_decode_v3: {
    entries: ['attention_decode_v3', 'attention_decode_v3_tc'],
    defines: ['HEAD_DIM', 'NUM_HEADS', 'NUM_KV_HEADS', 'TOKENS_PER_BLOCK', 'THREADS'],
  },
  attention_prefill: {
    entries: ['attention_prefill'],
    defines: ['HEAD_DIM', 'NUM_HEADS', 'NUM_KV_HEADS', 'TOKENS_PER_BLOCK'],
  },
  sampling: { entries: ['argmax_rows', 'sample_rows', 'apply_penalties', 'restore_penalized', 'row_logprobs'], defines: [] },
  fill: { entries: ['fill_normal'], defines: [] },
  quant_act: { entries: ['quantize_fp8_rows', 'fp8_rescale', 'fill_quant_bytes', 'fill_f32', 'silu_rows', 'binary_rows'], defines: [] },
  wo_gemm: {
    entries: ['wo_gemv_int4_m1', 'wo_gemv_int4_m2', 'wo_gemv_int4_m4', 'wo_gemv_int4_m8', 'wo_gemv_int4_mma', 'wo_gemv_int8_m1', 'wo_gemv_int8_m2',
      'wo_gemv_int8_m4', 'wo_gemv_int8_m8', 'wo_dequant_int4', 'wo_dequant_int8'],
    defines: [],
  },
  gemv: { entries: ['gemv_m1', 'gemv_m2', 'gemv_m4', 'gemv_m8'], defines: [] },
} as const satisfies Record<string, { entries: readonly string[]; defines: readonly string[] }>;

export type KernelFile = keyof typeof KERNEL_FILES;
export type Defines = Readonly<Record<string, number>>;

/** The model shapes kernels are specialised for. */
export interface KernelShapes {
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly tokensPerBlock: number;
  /** Activation (and 16-bit weight) dtype: bf16 unless given. Compiled in as ACT_F16. */
  readonly actDtype?: ActDtype;
  /** KV cache element: the activation dtype unless fp8 (e4m3 codes with per-layer scales). Compiled in as KV_FP8. */
  readonly kvDtype?: KvDtype;
}

export type ActDtype = 'bfloat16' | 'float16';
export type KvDtype = 'bfloat16' | 'float16' | 'fp8e4m3';

/** The dtypes `shapes` asks for, defaults filled in (bf16 activations, KV cache in the activation dtype). */
export function kernelDtypes(shapes: KernelShapes): { actDtype: ActDtype; kvDtype: KvDtype } {
  const actDtype = shapes.actDtype ?? 'bfloat16';
  return { actDtype, kvDtype: shapes.kvDtype ?? actDtype };
}

/** Bytes of one KV cache element. */
export function kvElementBytes(kvDtype: KvDtype): number {
  return kvDtype === 'fp8e4m3' ? 1 : 2;
}

/** Decode split size (tokens per split-KV partition) and threads per block. */
export const DECODE_PARTITION = 256;
export const DECODE_THREADS = 128;
/** Prefill tile sizes (must match BM/BN in attention_prefill.cu). */
export const PREFILL_BLOCK_M = 64;
export const PREFILL_BLOCK_N = 64;

/**
 * Where the `.cu` files live: `dir` when given (e.g. from a bundle), else beside this module, else
 * (compiled into dist/, where tsc copies no .cu files) the repository's src/backends/cuda/kernels.
 */
export function kernelDir(dir?: string): string {
  if (dir) return dir;
  const here = fileURLToPath(new URL('.', import.meta.url));
  if (existsSync(join(here, 'common.cuh'))) return here;
  return fileURLToPath(new URL('../../../../src/backends/cuda/kernels/', import.meta.url));
}

export function readKernelText(file: string, dir?: string): string {
  return readFileSync(join(kernelDir(dir), file), 'utf8');
}

/** The defines each kernel file gets for these shapes. */
export function definesFor(shapes: KernelShapes): Record<KernelFile, Defines> {
  const { actDtype, kvDtype } = kernelDtypes(shapes);
  const dt = { ACT_F16: actDtype === 'float16' ? 1 : 0, KV_FP8: kvDtype === 'fp8e4m3' ? 1 : 0 };
  const files = definesByFile(shapes);
  return Object.fromEntries(Object.entries(files).map(([f, d]) => [f, { ...d, ...dt }])) as unknown as Record<KernelFile, Defines>;
}

function definesByFile(shapes: KernelShapes): Record<KernelFile, Defines> {
  const attn = { HEAD_DIM: shapes.headDim, NUM_HEADS: shapes.numHeads, NUM_KV_HEADS: shapes.numKvHeads, TOKENS_PER_BLOCK: shapes.tokensPerBlock };
  return {
    embedding: { HIDDEN: shapes.hiddenSize },
    rmsnorm: { HIDDEN: shapes.hiddenSize, THREADS: Math.min(1024, Math.max(32, roundUp(shapes.hiddenSize / 8 / 2, 32))) },
    silu_mul: { INTER: shapes.intermediateSize },
    rope_kv: attn,
    attention_decode: { ...attn, PARTITION: DECODE_PARTITION, THREADS: DECODE_THREADS },
    attention_decode_v3: { ...attn, PARTITION: DECODE_PARTITION, THREADS: DECODE_THREADS },
    attention_prefill: attn,
    sampling: {},
    fill: {},
    quant_act: {},
    wo_gemm: {},
    gemv: {},
  };
}

const roundUp = (x: number, m: number): number => Math.ceil(x / m) * m;

/** Throws `ConfigError` when the shapes are outside what the kernels support. */
export function checkKernelShapes(s: KernelShapes): void {
  const fail = (why: string): never => { throw new ConfigError(`CUDA kernels: ${why}`); };
  if (s.hiddenSize % 8 !== 0) fail(`hidden size ${s.hiddenSize} must be a multiple of 8`);
  if (s.intermediateSize % 8 !== 0) fail(`intermediate size ${s.intermediateSize} must be a multiple of 8`);
  if (s.numHeads % s.numKvHeads !== 0) fail(`${s.numHeads} heads are not a multiple of ${s.numKvHeads} KV heads`);
  if (![16, 32, 64, 128].includes(s.headDim)) fail(`head_dim ${s.headDim} is not supported (16, 32, 64 or 128)`);
  if (s.tokensPerBlock < 1) fail(`tokens per block must be positive`);
  const { actDtype, kvDtype } = kernelDtypes(s);
  if (actDtype !== 'bfloat16' && actDtype !== 'float16') fail(`activation dtype ${String(actDtype)} is not supported (bfloat16 or float16)`);
  if (kvDtype !== 'fp8e4m3' && kvDtype !== actDtype) fail(`a ${kvDtype} KV cache needs ${kvDtype} activations (this engine computes in ${actDtype}); use fp8 or the activation dtype`);
}

/** The full source NVRTC compiles: defines, common helpers, then the kernel file. */
export function specialise(file: KernelFile, defines: Defines, dir?: string): string {
  const required: readonly string[] = KERNEL_FILES[file].defines;
  for (const name of required) {
    const v = defines[name];
    if (v === undefined || !Number.isInteger(v)) throw new ConfigError(`kernel ${file}.cu needs an integer ${name}`);
  }
  const prelude = Object.entries(defines).map(([k, v]) => `#define ${k} ${v}`).join('\n');
  return `// generated by kiln: ${file}.cu\n${prelude}\n${readKernelText('common.cuh', dir)}\n${readKernelText(`${file}.cu`, dir)}`;
}

/** Dynamic shared memory the prefill kernel needs, in bytes. */
export function prefillSmemBytes(headDim: number): number {
  return (PREFILL_BLOCK_M + 2 * PREFILL_BLOCK_N) * (headDim + 8) * 2;
}
