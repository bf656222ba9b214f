/**
 * Build-time tactic autotuning for cuBLASLt GEMMs: time the heuristic's top candidates on the real
 * GPU, keep the fastest, and remember it in a JSON timing cache keyed by (GPU, cuBLASLt version,
 * shape, dtype, epilogue) so a rebuild skips the timing.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { CudaError } from './bindings/errors.js';
import type { CudaDevice, DeviceBuffer, Stream } from './device.js';
import { gemmFlops, type GemmAlgo, type GemmPlan } from './gemm.js';
import { GEMV_MAX_ROWS } from './gemv.js';
import { timeOnDevice, type TimingOptions } from './timing.js';

export interface TacticTiming {
  /** Rank in the heuristic's list (0 = its first choice). */
  readonly index: number;
  /** Median ms, or null when the candidate failed to run. */
  readonly medianMs: number | null;
  readonly tflops: number | null;
  readonly workspaceBytes: number;
}

export interface TunedGemm {
  readonly algo: GemmAlgo;
  readonly index: number;
  readonly medianMs: number;
  readonly timings: readonly TacticTiming[];
  readonly fromCache: boolean;
}

const entrySchema = z.object({
  algoHex: z.string().regex(/^[0-9a-f]{128}$/),
  index: z.number().int(),
  medianMs: z.number(),
  workspaceBytes: z.number().int(),
  timings: z.array(z.object({ index: z.number(), medianMs: z.number().nullable(), tflops: z.number().nullable(), workspaceBytes: z.number() })),
  // Decode shapes (m ≤ 8): the Kiln GEMV against this winner, both CUDA-graph timed (gemm-tactic.ts); absent: not timed.
  kernel: z.enum(['cublaslt', 'gemv']).optional(),
  gemv: z.object({ ms: z.number(), cublasLtMs: z.number() }).optional(),
});
const fileSchema = z.object({ version: z.literal(1), entries: z.record(z.string(), entrySchema) });
export type CacheEntry = z.infer<typeof entrySchema>;

/** Winners by key, persisted as JSON (written to a temp file, then renamed). */
export class TimingCache {
  private readonly entries = new Map<string, CacheEntry>();
  constructor(readonly path: string | null) {
    if (path && existsSync(path)) {
      const parsed = fileSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
      if (parsed.success) for (const [k, v] of Object.entries(parsed.data.entries)) this.entries.set(k, v);
    }
  }
  /** Decode-sized keys (m ≤ 8) carry `|gemv v1`, so caches written before the GEMV tactic miss and get it timed. */
  static key(gpu: string, ltVersion: number, plan: GemmPlan): string {
    const { m, n, k, epilogue, outF32, dtype } = plan.shape;
    return `${gpu}|cublasLt ${ltVersion}|m${m} n${n} k${k}|${dtype === 'float16' ? 'f16' : 'bf16'}${outF32 ? '→f32' : ''}|${epilogue}${m <= GEMV_MAX_ROWS ? '|gemv v1' : ''}`;
  }
  get(key: string): CacheEntry | undefined {
    return this.entries.get(key);
  }
  set(key: string, entry: CacheEntry): void {
    this.entries.set(key, entry);
  }
  get size(): number {
    return this.entries.size;
  }
  save(): void {
    if (!this.path) return;
    const tmp = `${this.path}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ version: 1, entries: Object.fromEntries(this.entries) }, null, 1));
    renameSync(tmp, this.path);
  }
}

export interface TuneBuffers {
  readonly a: DeviceBuffer;
  readonly b: DeviceBuffer;
  readonly d: DeviceBuffer;
  readonly bias?: DeviceBuffer;
}

/** Times every candidate of `plan` and returns the fastest (or the cached winner for `key`). */
export function tuneGemm(device: CudaDevice, stream: Stream, plan: GemmPlan, bufs: TuneBuffers, cache: TimingCache, key: string,
  opts: TimingOptions & { readonly maxCandidates?: number } = {}): TunedGemm {
  const hit = cache.get(key);
  if (hit) {
    const algo = { algo: Buffer.from(hit.algoHex, 'hex'), workspaceBytes: hit.workspaceBytes, wavesCount: 0 };
    return { algo, index: hit.index, medianMs: hit.medianMs, timings: hit.timings, fromCache: true };
  }
  const candidates = plan.candidates(opts.maxCandidates ?? 8, bufs.bias?.ptr ?? 0);
  if (candidates.length === 0) throw new CudaError('cublasLtMatmulAlgoGetHeuristic', 0, `no algorithm for ${key}`);
  const flops = gemmFlops(plan.shape);
  const timings = candidates.map((algo, index): TacticTiming => {
    try {
      const ms = timeOnDevice(device, stream, () => plan.run(stream, algo, bufs.a, bufs.b, bufs.d, bufs.bias), opts);
      return { index, medianMs: ms, tflops: flops / (ms * 1e9), workspaceBytes: algo.workspaceBytes };
    } catch (e) {
      if (!(e instanceof CudaError) || e.call !== 'cublasLtMatmul') throw e;
      return { index, medianMs: null, tflops: null, workspaceBytes: algo.workspaceBytes };
    }
  });
  const ok = timings.filter((t): t is TacticTiming & { medianMs: number } => t.medianMs !== null);
  if (ok.length === 0) throw new CudaError('cublasLtMatmul', 0, `every candidate failed for ${key}`);
  const best = ok.reduce((x, y) => (y.medianMs < x.medianMs ? y : x));
  const algo = candidates[best.index]!;
  cache.set(key, { algoHex: algo.algo.toString('hex'), index: best.index, medianMs: best.medianMs, workspaceBytes: algo.workspaceBytes, timings });
  return { algo, index: best.index, medianMs: best.medianMs, timings, fromCache: false };
}
