/**
 * What `kiln build --target cuda` stores in the engine besides weights, and how the context reads
 * it back: one 'cubin' section per kernel file (compiled by NVRTC for the engine's GPU arch), a
 * 'cuda-kernels' JSON section with the shapes they were specialised for, and a 'tactics' JSON
 * section with the autotuned cuBLASLt algorithm of each GEMM shape and batch bucket (and, for decode
 * buckets where it won, `kernel: 'gemv'`: the Kiln GEMV runs it instead).
 */
import { z } from 'zod';
import { EngineLoadError } from '../../errors/index.js';
import type { Engine, EngineSection, EngineSections } from '../../engine/types.js';
import type { CompiledKernelFile } from './kernel-set.js';
import { KERNEL_FILES, kernelDtypes, type ActDtype, type KernelFile, type KernelShapes, type KvDtype } from './kernels/index.js';

export const CUBIN_KIND = 'cubin';
export const KERNELS_META = 'cuda-kernels';
export const TACTICS = 'tactics';

const shapesSchema = z.object({
  hiddenSize: z.number().int(), intermediateSize: z.number().int(), numHeads: z.number().int(),
  numKvHeads: z.number().int(), headDim: z.number().int(), tokensPerBlock: z.number().int(),
  // Absent in engines built before FP16/FP8 KV support: bf16.
  actDtype: z.enum(['bfloat16', 'float16']).optional(), kvDtype: z.enum(['bfloat16', 'float16', 'fp8e4m3']).optional(),
});
const metaSchema = z.object({ arch: z.string(), shapes: shapesSchema, files: z.array(z.string()) });
const tacticSchema = z.object({
  algoHex: z.string().regex(/^[0-9a-f]{128}$/), workspaceBytes: z.number().int(), medianMs: z.number(), index: z.number().int(),
  // Which kernel runs it (absent in engines built before the GEMV tactic: cuBLASLt with algoHex). 'gemv': the Kiln
  // GEMV (gemv.ts), timed faster than cuBLASLt's algoHex at build (both CUDA-graph timed: `gemv`).
  kernel: z.enum(['cublaslt', 'gemv']).optional(),
  gemv: z.object({ ms: z.number(), cublasLtMs: z.number() }).optional(),
});
const tacticsSchema = z.object({ version: z.literal(1), gpu: z.string(), entries: z.record(z.string(), tacticSchema) });

export type Tactic = z.infer<typeof tacticSchema>;
export type TacticsFile = z.infer<typeof tacticsSchema>;

/** The key of one GEMM in the tactics section; float16 GEMMs are tagged (bf16 keys keep the old form). */
export function tacticKey(m: number, n: number, k: number, epilogue: string, outF32: boolean, dtype: 'bfloat16' | 'float16' = 'bfloat16'): string {
  return `m${m} n${n} k${k} ${epilogue}${outF32 ? ' f32out' : ''}${dtype === 'float16' ? ' f16' : ''}`;
}

/**
 * The dtypes an engine's kernels run in: float16 activations for `--dtype float16` engines, else
 * bfloat16 (float32 engines run in bf16 on the GPU); an fp8 KV cache when its attention ops carry the
 * quantize pass's `kvCacheDtype: 'fp8e4m3'`, else the activation dtype.
 */
export function engineDtypes(engine: Pick<Engine, 'config' | 'graph'>): { actDtype: ActDtype; kvDtype: KvDtype } {
  const actDtype: ActDtype = engine.config.build.dtype === 'float16' ? 'float16' : 'bfloat16';
  const fp8 = engine.graph.nodes.some((n) => n.op === 'attention' && n.attrs['kvCacheDtype'] === 'fp8e4m3');
  return { actDtype, kvDtype: fp8 ? 'fp8e4m3' : actDtype };
}

/** Why stored kernels cannot serve `want` (a sentence fragment), or null when they can. */
export function kernelMismatch(stored: KernelShapes, want: KernelShapes): string | null {
  const a = { ...stored, ...kernelDtypes(stored) }, b = { ...want, ...kernelDtypes(want) };
  if (a.tokensPerBlock !== b.tokensPerBlock) return `its kernels were built for ${a.tokensPerBlock} tokens per KV block, not ${b.tokensPerBlock}`;
  if (a.actDtype !== b.actDtype || a.kvDtype !== b.kvDtype) return `its kernels were built for ${a.actDtype} activations and a ${a.kvDtype} KV cache, not ${b.actDtype} and ${b.kvDtype}`;
  const keys = ['hiddenSize', 'intermediateSize', 'numHeads', 'numKvHeads', 'headDim'] as const;
  const diff = keys.find((k) => a[k] !== b[k]);
  return diff ? `its kernels were built for ${diff} ${a[diff]}, not ${b[diff]}` : null;
}

const enc = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o));
const dec = (s: EngineSection): unknown => JSON.parse(new TextDecoder().decode(s.data));

/** The sections that hold compiled kernels. */
export function kernelSections(compiled: readonly CompiledKernelFile[], shapes: KernelShapes): EngineSection[] {
  const arch = compiled[0]?.arch ?? '';
  const meta = { arch, shapes, files: compiled.map((c) => c.file) };
  return [
    { name: KERNELS_META, kind: 'json', data: enc(meta) },
    ...compiled.map((c) => ({ name: `cubin/${c.file}`, kind: CUBIN_KIND, data: c.cubin })),
  ];
}

export function tacticsSection(file: TacticsFile): EngineSection {
  return { name: TACTICS, kind: 'json', data: enc(file) };
}

/** Compiled kernels stored in an engine, or undefined when it has none (a CPU-built engine). */
export function tryReadKernels(sections: EngineSections | undefined): { shapes: KernelShapes; compiled: CompiledKernelFile[] } | undefined {
  const metaSection = sections?.tryGet(KERNELS_META);
  if (!sections || !metaSection) return undefined;
  const parsed = metaSchema.safeParse(dec(metaSection));
  if (!parsed.success) throw new EngineLoadError(`the engine's ${KERNELS_META} section is unreadable; rebuild with \`kiln build --target cuda\``);
  const { arch, files } = parsed.data;
  const shapes = parsed.data.shapes as KernelShapes;
  const compiled = files.map((file): CompiledKernelFile => {
    if (!(file in KERNEL_FILES)) throw new EngineLoadError(`the engine stores kernel '${file}', unknown to this Kiln; rebuild the engine`);
    const s = sections.tryGet(`cubin/${file}`);
    if (!s) throw new EngineLoadError(`the engine lacks section cubin/${file}; rebuild with \`kiln build --target cuda\``);
    return { file: file as KernelFile, arch, cubin: s.data, compileMs: 0, log: '' };
  });
  return { shapes, compiled };
}

export function tryReadTactics(sections: EngineSections | undefined): TacticsFile | undefined {
  const s = sections?.tryGet(TACTICS);
  if (!s) return undefined;
  const parsed = tacticsSchema.safeParse(dec(s));
  return parsed.success ? parsed.data : undefined;
}
