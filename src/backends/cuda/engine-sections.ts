/**
 * What `kiln build --target cuda` stores in the engine besides weights, and how the context reads
 * it back: one 'cubin' section per kernel file (compiled by NVRTC for the engine's GPU arch), a
 * 'cuda-kernels' JSON section with the shapes they were specialised for, and a 'tactics' JSON
 * section with the autotuned cuBLASLt algorithm of each GEMM shape and batch bucket.
 */
import { z } from 'zod';
import { EngineLoadError } from '../../errors/index.js';
import type { EngineSection, EngineSections } from '../../engine/types.js';
import type { CompiledKernelFile } from './kernel-set.js';
import { KERNEL_FILES, type KernelFile, type KernelShapes } from './kernels/index.js';

export const CUBIN_KIND = 'cubin';
export const KERNELS_META = 'cuda-kernels';
export const TACTICS = 'tactics';

const shapesSchema = z.object({
  hiddenSize: z.number().int(), intermediateSize: z.number().int(), numHeads: z.number().int(),
  numKvHeads: z.number().int(), headDim: z.number().int(), tokensPerBlock: z.number().int(),
});
const metaSchema = z.object({ arch: z.string(), shapes: shapesSchema, files: z.array(z.string()) });
const tacticSchema = z.object({ algoHex: z.string().regex(/^[0-9a-f]{128}$/), workspaceBytes: z.number().int(), medianMs: z.number(), index: z.number().int() });
const tacticsSchema = z.object({ version: z.literal(1), gpu: z.string(), entries: z.record(z.string(), tacticSchema) });

export type Tactic = z.infer<typeof tacticSchema>;
export type TacticsFile = z.infer<typeof tacticsSchema>;

/** The key of one GEMM in the tactics section. */
export function tacticKey(m: number, n: number, k: number, epilogue: string, outF32: boolean): string {
  return `m${m} n${n} k${k} ${epilogue}${outF32 ? ' f32out' : ''}`;
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
  const { arch, shapes, files } = parsed.data;
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
