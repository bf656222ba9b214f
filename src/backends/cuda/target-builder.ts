/**
 * `kiln build --target cuda`: the builder hook that compiles the kernels for the model's shapes with
 * NVRTC for this GPU's architecture, autotunes every GEMM of the engine for the decode batch buckets
 * and a few prefill sizes (winners in a 'tactics' section, timings in a timing-cache file; decode buckets
 * also time the Kiln GEMV against cuBLASLt, gemm-tactic.ts), checks
 * the graph can be planned, and records the GPU arch. Kernels and GEMMs run in the engine's dtype
 * (float16 engines in fp16, others in bf16; an fp8 KV cache when the graph asks for one). Weights keep
 * the engine's dtype; the context converts them to the kernels' dtype at upload.
 */
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Engine, EngineSection } from '../../engine/types.js';
import type { TargetBuildContext, TargetBuilderHook } from '../../builder/targets.js';
import { EngineLoadError } from '../../errors/index.js';
import { decodeBuckets } from './context.js';
import { CudaDevice, arg, type DeviceBuffer, type Stream } from './device.js';
import { engineDtypes, kernelSections, tacticKey, tacticsSection, type TacticsFile } from './engine-sections.js';
import { planExecution } from './exec-plan.js';
import { CublasLtHandle, GemmPlan, type GemmDtype, type GemmEpilogue } from './gemm.js';
import { TimingCache } from './gemm-tuner.js';
import { tuneGemmTactic } from './gemm-tactic.js';
import { compileKernels, KernelSet } from './kernel-set.js';
import type { KernelShapes } from './kernels/index.js';
import { gemmRowsBucket } from './plan-runner.js';

export interface CudaTargetOptions {
  /** Timing-cache JSON (default ~/.cache/kiln/cublaslt-timing.json). */
  readonly timingCachePath?: string;
  /** Tokens per KV block the kernels are specialised for (the runtime's default, 32). */
  readonly tokensPerBlock?: number;
}

export interface GemmShapeKey { readonly n: number; readonly k: number; readonly epilogue: GemmEpilogue; readonly outF32: boolean }

/** The distinct GEMMs of an engine (rows aside). */
function engineGemms(engine: Engine): GemmShapeKey[] {
  const plan = planExecution(engine.graph, () => 1);
  const seen = new Map<string, GemmShapeKey>();
  for (const op of plan.ops) {
    if (op.op !== 'gemm') continue;
    const g = { n: op.n, k: op.k, epilogue: op.epilogue, outF32: op.out.f32 };
    seen.set(JSON.stringify(g), g);
  }
  return [...seen.values()];
}

/** Rows to tune: every decode bucket, and prefill-sized chunks up to max_num_tokens. */
export function tuneRows(maxBatchSize: number, maxNumTokens: number): number[] {
  const rows = new Set(decodeBuckets(maxBatchSize).map(gemmRowsBucket));
  for (const m of [512, 2048, maxNumTokens]) if (m <= maxNumTokens) rows.add(gemmRowsBucket(m));
  return [...rows].sort((a, b) => a - b);
}

function fillRandom(ks: KernelSet, s: Stream, buf: DeviceBuffer, seed: number): void {
  const n = Math.floor(buf.bytes / 2);
  ks.get('fill_normal').launch({ grid: [Math.min(65535, Math.ceil(n / 256))], block: [256] }, s,
    [arg.ptr(buf), arg.u64(BigInt(n)), arg.i32(seed), arg.f32(0), arg.f32(0.5)]);
}

/** Tunes every GEMM at every rows bucket (tactics: gemm-tactic.ts) and saves the timing cache; exported for the device check. */
export function tuneAll(device: CudaDevice, ks: KernelSet, gemms: readonly GemmShapeKey[], rows: readonly number[], maxLogitRows: number,
  cachePath: string, log: (l: string) => void): TacticsFile {
  const dtype: GemmDtype = ks.shapes.actDtype ?? 'bfloat16';
  const stream = device.createStream();
  const lt = new CublasLtHandle(device);
  const cache = new TimingCache(cachePath);
  const maxM = Math.max(...rows);
  const bufs = {
    a: device.alloc(2 * maxM * Math.max(...gemms.map((g) => g.k))),
    b: device.alloc(2 * Math.max(...gemms.map((g) => g.n * g.k))),
    d: device.alloc(Math.max(...gemms.map((g) => (g.outF32 ? 4 * Math.min(maxM, maxLogitRows) : 2 * maxM) * g.n))),
    bias: device.alloc(2 * Math.max(...gemms.map((g) => g.n))),
  };
  const entries: TacticsFile['entries'] = {};
  try {
    for (const [i, b] of [bufs.a, bufs.b, bufs.bias].entries()) fillRandom(ks, stream, b, 1234 + i);
    for (const g of gemms) {
      for (const m of rows.filter((r) => !g.outF32 || r <= maxLogitRows)) {
        const plan = new GemmPlan(lt, { m, n: g.n, k: g.k, epilogue: g.epilogue, outF32: g.outF32, dtype });
        try {
          const key = TimingCache.key(device.info.name, lt.version(), plan);
          const t = tuneGemmTactic(device, stream, ks, plan, bufs, cache, key, { warmup: 2, iters: 10 }); // cuBLASLt, and the Kiln GEMV for m ≤ 8
          entries[tacticKey(m, g.n, g.k, g.epilogue, g.outF32, dtype)] = t.tactic;
          log(`tactic ${dtype === 'float16' ? 'f16' : 'bf16'} m=${m} n=${g.n} k=${g.k} ${g.epilogue}${g.outF32 ? ' f32out' : ''}: ${t.summary}`);
        } finally {
          plan.dispose();
        }
      }
    }
    mkdirSync(dirname(cachePath), { recursive: true });
    cache.save();
  } finally {
    for (const b of Object.values(bufs)) b.dispose();
    lt.dispose();
    stream.dispose();
  }
  return { version: 1, gpu: device.info.name, entries };
}

function withSections(engine: Engine, added: readonly EngineSection[]): Engine['sections'] {
  const all = [...(engine.sections?.list() ?? []).filter((s) => !added.some((a) => a.name === s.name)), ...added];
  return { list: (kind) => all.filter((s) => kind === undefined || s.kind === kind), tryGet: (name) => all.find((s) => s.name === name) };
}

export function createCudaTargetBuilder(options: CudaTargetOptions = {}): TargetBuilderHook {
  return (engine: Engine, ctx: TargetBuildContext): Engine => {
    const model = engine.config.model;
    if (!model) throw new EngineLoadError('--target cuda builds LLM engines (from a model checkpoint)');
    const gemms = engineGemms(engine); // also checks the graph can be planned
    const shapes: KernelShapes = { hiddenSize: model.hiddenSize, intermediateSize: model.intermediateSize, numHeads: model.numHeads,
      numKvHeads: model.numKvHeads, headDim: model.headDim, tokensPerBlock: options.tokensPerBlock ?? 32, ...engineDtypes(engine) };
    const device = CudaDevice.open(0);
    try {
      const arch = device.info.arch;
      const compiled = compileKernels(shapes, arch, process.env['KILN_KERNEL_DIR']);
      for (const c of compiled) ctx.log(`nvrtc ${c.file}.cu → ${arch} cubin ${c.cubin.byteLength} B in ${c.compileMs.toFixed(0)} ms`);
      const ks = KernelSet.load(device, shapes, compiled);
      let tactics: TacticsFile;
      try {
        const cachePath = options.timingCachePath ?? join(homedir(), '.cache', 'kiln', 'cublaslt-timing.json');
        const { maxBatchSize, maxNumTokens } = ctx.settings;
        // Logits rows: what the context holds (CudaContext's maxLogits), bucketed.
        const maxLogitRows = gemmRowsBucket(Math.min(maxNumTokens, Math.max(maxBatchSize, 256)));
        tactics = tuneAll(device, ks, gemms, tuneRows(maxBatchSize, maxNumTokens), maxLogitRows, cachePath, ctx.log);
      } finally {
        ks.dispose();
      }
      const sections = withSections(engine, [...kernelSections(compiled, shapes), tacticsSection(tactics)]);
      ctx.log(`cuda target: ${device.info.name} (${arch}), ${compiled.length} kernel files, ${Object.keys(tactics.entries).length} tuned GEMMs`);
      return {
        ...engine,
        config: { ...engine.config, gpuArch: arch, build: { ...engine.config.build, dtype: engine.config.build.dtype === 'float16' ? 'float16' : 'bfloat16' } },
        ...(sections ? { sections } : {}),
      };
    } finally {
      device.dispose();
    }
  };
}
