/**
 * Whole-model device checks of the engine dtypes (issue #5 FP16 engines, issue #7 FP8 KV cache), on a
 * small HF fixture built --target cuda twice: `--dtype float16`, and `--kv_cache_dtype fp8` (calibrated
 * per-layer scales). Each engine runs on the CUDA context and on the CPU backend (same engine file: same
 * fp16 weights / same fp8 scales; the CPU cache float16 / fp8e4m3 like the GPU's):
 * - teacher-forced logits (prefill at every prompt position, then 15 batched decode steps fed HF's
 *   greedy tokens): rel L2 CUDA vs CPU below the tolerance (fp16 2e-2: fp16 activations vs the CPU's f32;
 *   fp8 KV 5e-2: bf16 activations, and K codes that flip where the GPU's bf16 k crosses an fp8 rounding
 *   boundary), and every top-1 disagreement at a CPU near-tie (top-1 − top-2 < 4·max|Δlogit|);
 * - free-running greedy 24 tokens per prompt: equal until a CPU near-tie.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CpuContext } from '../../src/backends/cpu/index.js';
import { CudaContext } from '../../src/backends/cuda/index.js';
import type { ExecutionContext, KvCacheSpec } from '../../src/backends/types.js';
import { buildFromCheckpoint, type BuildFromCheckpointOptions } from '../../src/builder/build-command.js';
import { convertCheckpoint } from '../../src/checkpoint/index.js';
import { loadEngine, type LoadedEngine } from '../../src/engine/reader.js';
import { loadReference } from '../../test/models/reference.js';
import type { Row } from './check-fixtures.js';
import { argmax, margin, maxAbs, makeStep, relL2, rows, runLogits, seqStates } from './model-harness.js';

const TPB = 32;
const FIXTURE = 'llama3-gqa';

interface Variant {
  readonly tag: string;
  readonly build: Partial<BuildFromCheckpointOptions>;
  readonly cudaKv: KvCacheSpec['dtype'];
  readonly cpuKv: KvCacheSpec['dtype'];
  readonly tol: number;
}

const VARIANTS: readonly Variant[] = [
  { tag: 'float16', build: { dtype: 'float16' }, cudaKv: 'float16', cpuKv: 'float16', tol: 2e-2 },
  { tag: 'fp8 KV cache', build: { quant: { kvCacheDtype: 'fp8', calibSize: 4 } }, cudaKv: 'fp8e4m3', cpuKv: 'fp8e4m3', tol: 5e-2 },
];

function spec(engine: LoadedEngine, numBlocks: number, dtype: KvCacheSpec['dtype']): KvCacheSpec {
  const m = engine.config.model!;
  return { numLayers: m.numLayers, numKvHeads: m.numKvHeads, headDim: m.headDim, numBlocks, tokensPerBlock: TPB, dtype };
}

/** Prefill logits at every position, then `steps` batched decode steps fed `forced` tokens: every row. */
function teacherForced(ctx: ExecutionContext, prompts: readonly number[][], forced: readonly number[][], steps: number, V: number): Float32Array[] {
  const seqs = seqStates(prompts.length, 6);
  const out = rows(Float32Array.from(runLogits(ctx, makeStep(seqs, prompts, TPB, true))), V);
  for (let j = 1; j <= steps; j++) out.push(...rows(Float32Array.from(runLogits(ctx, makeStep(seqs, forced.map((f) => [f[j - 1]!]), TPB, false))), V));
  return out;
}

function greedy(ctx: ExecutionContext, prompt: readonly number[], n: number): { ids: number[]; margins: number[] } {
  const s = seqStates(1, 6)[0]!;
  const ids: number[] = [], margins: number[] = [];
  let logits = runLogits(ctx, makeStep([s], [[...prompt]], TPB, false));
  for (let j = 0; j < n; j++) {
    const top = argmax(logits);
    ids.push(top);
    margins.push(margin(logits));
    if (j < n - 1) logits = runLogits(ctx, makeStep([s], [[top]], TPB, false));
  }
  return { ids, margins };
}

function compare(v: Variant, engine: LoadedEngine, out: Row[]): void {
  const ref = loadReference(FIXTURE);
  const V = ref.vocabSize, P = ref.prompts.length, steps = 15;
  const prompts = ref.prompts.map((p) => p.inputIds), forced = ref.prompts.map((p) => p.greedyIds);
  const cpu = new CpuContext(engine, { kvCache: spec(engine, 6 * P, v.cpuKv) });
  const gpu = new CudaContext(engine, { kvCache: spec(engine, 6 * P, v.cudaKv), progress: false });
  try {
    const a = teacherForced(cpu, prompts, forced, steps, V), b = teacherForced(gpu, prompts, forced, steps, V);
    let errSq = 0, maxErr = 0;
    a.forEach((want, r) => { errSq += relL2(b[r]!, want) ** 2; maxErr = Math.max(maxErr, maxAbs(b[r]!, want)); });
    const rms = Math.sqrt(errSq / a.length), tie = 4 * maxErr;
    const disagree = a.map((want, r) => (argmax(want) === argmax(b[r]!) ? -1 : r)).filter((r) => r >= 0);
    const notTies = disagree.filter((r) => margin(a[r]!) >= tie);
    out.push({ check: `${FIXTURE} ${v.tag}: CUDA vs CPU logits, same engine (${a.length} rows: prefill all positions + ${steps} batched decode steps)`,
      pass: rms < v.tol && !Number.isNaN(rms) && notTies.length === 0,
      detail: `rel L2 (rms over rows) ${rms.toExponential(2)} (tol ${v.tol}); max |Δlogit| ${maxErr.toFixed(4)}; top-1 agree ${a.length - disagree.length}/${a.length}, disagreements not at a CPU near-tie (margin < ${tie.toFixed(4)}): ${notTies.length}` });
    const notes: string[] = [];
    let ok = true;
    prompts.forEach((p, i) => {
      const c = greedy(cpu, p, 24), g = greedy(gpu, p, 24);
      const first = g.ids.findIndex((t, j) => t !== c.ids[j]);
      const nearTie = first >= 0 && c.margins[first]! < tie;
      if (first >= 0 && !nearTie) ok = false;
      notes.push(first < 0 ? `p${i}: 24/24` : `p${i}: equal to step ${first}, CPU margin ${c.margins[first]!.toFixed(4)}${nearTie ? ' (near-tie)' : ' (NOT a near-tie)'}`);
    });
    out.push({ check: `${FIXTURE} ${v.tag}: greedy 24 tokens CUDA vs CPU (same engine)`, pass: ok, detail: notes.join('; ') });
  } finally {
    cpu.dispose();
    gpu.dispose();
  }
}

export async function checkModelDtypes(work: string, log: (l: string) => void): Promise<Row[]> {
  mkdirSync(work, { recursive: true });
  const out: Row[] = [];
  const ckpt = join(work, `ckpt-dtypes-${FIXTURE}`);
  await convertCheckpoint({ modelDir: join('test/fixtures/models', FIXTURE), outputDir: ckpt, dtype: 'bfloat16' });
  for (const v of VARIANTS) {
    try {
      const dir = join(work, `engine-${FIXTURE}-${v.tag.replace(/\W+/g, '-')}`);
      const t0 = performance.now();
      await buildFromCheckpoint({ checkpointDir: ckpt, outputDir: dir, target: 'cuda', timingCache: join(work, 'timing-cache.json'),
        settings: { maxBatchSize: 8, maxInputLen: 128, maxOutputLen: 64, maxNumTokens: 256 }, onLog: () => undefined, ...v.build });
      log(`built ${FIXTURE} (${v.tag}) --target cuda in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      compare(v, loadEngine(dir, { target: 'cuda' }), out);
    } catch (e) {
      out.push({ check: `${FIXTURE} ${v.tag}`, pass: false, detail: `threw: ${(e as Error).stack ?? String(e)}`.slice(0, 1500) });
    }
    log(out.slice(-2).map((r) => `${r.pass ? 'PASS' : 'FAIL'} ${r.check}: ${r.detail}`).join('\n'));
  }
  return out;
}
