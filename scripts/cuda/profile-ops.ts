/**
 * Per-op GPU profile of a Kiln CUDA engine (issue 6: where the batch-1 decode step's non-GEMM time
 * goes). Loads an engine (e.g. the Llama-3-8B `--load_format dummy` one the bench suite builds) and,
 * with KILN_CUDA_PROFILE=ops (src/backends/cuda/op-profiler.ts: CUDA events around each plan op of
 * eager steps, queued behind a filler so launch gaps do not count), times three steps:
 *   decode-b1      one sequence decoding at 128 tokens of context;
 *   decode-b256    256 sequences decoding at 192 tokens of context (mid 128/128);
 *   mixed-8192     192 decodes (context 192) + 64 prompts of 125 tokens = 8192 tokens in one step.
 * Per op kind (GEMMs by role and M×N×K): median device ms, bytes, FLOPs, GB/s, TFLOP/s; the sum of
 * the per-op times against the eager step and against the CUDA-graph replay step (host wall time of
 * runAndSample, a second context with graphs on). Writes JSON and markdown.
 * Usage (GPU machine, bundled by scripts/cuda/bundle-bench-suite.sh):
 *   KILN_CUDA_PROFILE=ops node .device/cuda/profile-ops.mjs --engine_dir DIR [--out_json F] [--out_md F] [--iters 5]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CudaContext } from '../../src/backends/cuda/context.js';
import { OpProfiler, type StepRecord } from '../../src/backends/cuda/op-profiler.js';
import { gemmRowsBucket } from '../../src/backends/cuda/plan-runner.js';
import type { KvCacheSpec, RowSampling, StepInputs } from '../../src/backends/types.js';
import { kvCacheDtypeOf } from '../../src/bench/engine-info.js';
import { bytesPerElement } from '../../src/graph/dtype.js';
import { loadEngine, type LoadedEngine } from '../../src/engine/reader.js';
import { makeStep, seqStates, type SeqState } from './model-harness.js';
import { groupOps, markdownProfile, medianPerOp, opCost, type ScenarioProfile, type StepShape } from './profile-ops-report.js';

const TPB = 32;
const BLOCKS_PER_SEQ = 9; // 288 tokens: room for context 192 + a 125-token prompt
const GREEDY: RowSampling = { temperature: 0, topK: 0, topP: 1, minP: 0, uniform: 0 };

interface Scenario { readonly name: string; readonly step: StepInputs }

/** `decodes` sequences at context `ctx` (decoding one token) followed by `prompts` prompts of `promptLen` tokens. */
function scenario(name: string, decodes: number, ctx: number, prompts: number, promptLen: number): Scenario {
  const seqs: SeqState[] = seqStates(decodes + prompts, BLOCKS_PER_SEQ);
  seqs.forEach((s, i) => { s.len = i < decodes ? ctx - 1 : 0; });
  const tokens = seqs.map((_, i) => (i < decodes ? [1000 + i] : Array.from({ length: promptLen }, (_, j) => 1000 + ((i * 131 + j * 17) % 100000))));
  return { name, step: makeStep(seqs, tokens, TPB, false) };
}

const SCENARIOS = [
  scenario('decode-b1 (context 128)', 1, 128, 0, 0),
  scenario('decode-b256 (context 192)', 256, 192, 0, 0),
  scenario('mixed-8192 (192 decodes at context 192 + 64 prompts × 125)', 192, 192, 64, 125),
];

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median host wall ms of `iters` runAndSample calls after `warmup` unmeasured ones. */
function wallMs(ctx: CudaContext, step: StepInputs, warmup: number, iters: number): number {
  const rows = step.tensors['logits_indices']!.data.length;
  const sampling = Array.from({ length: rows }, () => GREEDY);
  const times: number[] = [];
  for (let i = 0; i < warmup + iters; i++) {
    const t0 = performance.now();
    ctx.runAndSample(step, sampling);
    if (i >= warmup) times.push(performance.now() - t0);
  }
  return median(times);
}

function contextFor(engine: LoadedEngine, graphs: boolean): CudaContext {
  const m = engine.config.model!;
  const spec: KvCacheSpec = {
    numLayers: m.numLayers, numKvHeads: m.numKvHeads, headDim: m.headDim, tokensPerBlock: TPB,
    numBlocks: 256 * BLOCKS_PER_SEQ, dtype: kvCacheDtypeOf(engine) === 'fp8e4m3' ? 'fp8e4m3' : 'bfloat16',
  };
  return new CudaContext(engine, { kvCache: spec, cudaGraphs: graphs, progress: false });
}

function stepShape(engine: LoadedEngine, step: StepInputs): StepShape {
  const dtypes = new Map(engine.graph.tensors.filter((t) => t.kind === 'weight').map((t) => [t.name!, bytesPerElement(t.dtype)]));
  return {
    numTokens: step.tensors['input_ids']!.data.length, numLogits: step.tensors['logits_indices']!.data.length,
    seqs: step.attention!.seqs.map((s) => ({ numQueryTokens: s.numQueryTokens, contextLen: s.contextLen })),
    weightBytes: (name) => dtypes.get(name) ?? dtypes.get(name.replace(/\.weight$/, '.qweight')) ?? 2,
    kvBytes: kvCacheDtypeOf(engine) === 'fp8e4m3' ? 1 : 2,
  };
}

function summarize(engine: LoadedEngine, sc: Scenario, steps: readonly StepRecord[], eagerWall: number, graphWall: number | null): ScenarioProfile {
  const m = engine.config.model!;
  const shape = stepShape(engine, sc.step);
  const ops = steps[0]!.ops;
  const costs = ops.map((o) => opCost(o.op, m, shape, gemmRowsBucket));
  const ms = medianPerOp(steps.map((s) => s.ops.map((o) => o.ms)));
  return {
    name: sc.name, numTokens: shape.numTokens, numSeqs: shape.seqs.length, groups: groupOps(costs, ms),
    sumOpsMs: ms.reduce((a, b) => a + b, 0), eagerSpanMs: median(steps.map((s) => s.spanMs)), eagerWallMs: eagerWall,
    hostEnqueueMs: median(steps.map((s) => s.hostEnqueueMs)),
    gapFreeSteps: `${steps.filter((s) => s.gpuBehindHost).length}/${steps.length}`, graphWallMs: graphWall,
  };
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({ options: { engine_dir: { type: 'string' }, out_json: { type: 'string' }, out_md: { type: 'string' }, iters: { type: 'string', default: '5' } } });
  if (!a.engine_dir) throw new Error('usage: profile-ops --engine_dir DIR [--out_json F] [--out_md F] [--iters N]');
  const iters = Number(a.iters);
  const engine = loadEngine(a.engine_dir, { target: 'cuda' });
  const t0 = performance.now();
  // 1. Eager context: the step's wall time, then per-op events.
  const eager = contextFor(engine, false);
  const profiled: { steps: StepRecord[]; wall: number }[] = [];
  try {
    for (const sc of SCENARIOS) {
      process.env['KILN_CUDA_PROFILE'] = '1'; // the eager step's own wall time, without events or filler
      const wall = wallMs(eager, sc.step, 2, iters);
      process.env['KILN_CUDA_PROFILE'] = 'ops';
      wallMs(eager, sc.step, 2, 0); // warm-up of the profiler: events, filler sizing
      OpProfiler.current()?.clear();
      wallMs(eager, sc.step, 0, iters);
      profiled.push({ steps: [...(OpProfiler.current()?.steps ?? [])], wall });
      process.stderr.write(`[profile] ${sc.name}: eager ${wall.toFixed(3)} ms per step (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
    }
  } finally {
    OpProfiler.release();
    process.env['KILN_CUDA_PROFILE'] = '1';
    eager.dispose();
  }
  if (profiled.some((p) => p.steps.length === 0)) throw new Error('no profiled steps: is this bundle built with the KILN_CUDA_PROFILE=ops hook in PlanRunner.enqueue?');
  // 2. CUDA-graph context: decode steps replay a captured graph (the mixed step stays eager).
  const graphs = contextFor(engine, true);
  const graphWall: (number | null)[] = [];
  try {
    for (const sc of SCENARIOS) {
      const decode = sc.step.attention!.seqs.every((s) => s.numQueryTokens === 1);
      graphWall.push(decode ? wallMs(graphs, sc.step, 3, Math.max(iters, 20)) : null);
    }
  } finally {
    graphs.dispose();
  }
  const results = SCENARIOS.map((sc, i) => summarize(engine, sc, profiled[i]!.steps, profiled[i]!.wall, graphWall[i] ?? null));
  const report = { engine: a.engine_dir, date: new Date().toISOString(), node: process.version, iters, scenarios: results };
  const md = [`# Per-op GPU profile (${report.date}, engine ${a.engine_dir}, median of ${iters} steps)`, '', ...results.map(markdownProfile)].join('\n');
  if (a.out_json) writeFileSync(a.out_json, `${JSON.stringify(report, null, 2)}\n`);
  if (a.out_md) writeFileSync(a.out_md, md);
  process.stdout.write(`${md}\n`);
}

main().catch((e: unknown) => { console.error(e); process.exitCode = 1; });
