/**
 * Device check of sampling on the GPU (CudaContext.runAndSample) on the HF fixtures built with
 * --target cuda, through the Executor (chunked prefill, a KV budget that forces preemption, a
 * shared prefix):
 *  - greedy: token streams with GPU sampling must equal the logits path's (argmax on the host over
 *    the same float32 logits of the same batches): exact, no tolerance;
 *  - seeded (T 0.8, top-k 40, top-p 0.95): the same batch twice gives the same streams (exact), and
 *    one request alone equals it inside the batch unless a batched-vs-alone logit difference moves
 *    a draw across a bucket boundary (reported); GPU draws vs the host sampler with the same
 *    uniforms are reported (float32 vs float64 probabilities may split a draw at a boundary).
 * Writes sampling-check.json to $OUT. Exit code 1 on a failure.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CudaContext } from '../../src/backends/cuda/index.js';
import type { ExecutionContext, HostTensor, KvCacheSpec, StepInputs } from '../../src/backends/types.js';
import type { LoadedEngine } from '../../src/engine/reader.js';
import type { GenerateRequest, SamplingParams } from '../../src/runtime/api.js';
import { Executor } from '../../src/runtime/executor/executor.js';
import { buildFixture, FIXTURES, type Row } from './check-fixtures.js';
import { idTokenizer } from './model-harness.js';
import { CudaDevice } from '../../src/backends/cuda/device.js';
import { compileKernels, KernelSet } from '../../src/backends/cuda/kernel-set.js';
import { Rng } from './harness.js';
import { checkArgmax, checkSampling } from './check-sampling.js';

/** The sampling kernels alone (argmax, and the distribution checks incl. min-p) after their signature change. */
function kernelChecks(): Row[] {
  const device = CudaDevice.open(0);
  try {
    const stream = device.createStream();
    const shapes = { hiddenSize: 256, intermediateSize: 688, numHeads: 8, numKvHeads: 2, headDim: 64, tokensPerBlock: 32 };
    const ks = KernelSet.load(device, shapes, compileKernels(shapes, device.info.arch, process.env['KILN_KERNEL_DIR']));
    const ctx = { device, stream, ks, rng: new Rng() };
    const res = [checkArgmax(ctx), checkSampling(ctx, 0.8, 50, 0.9), checkSampling(ctx, 1.0, 0, 0.8), checkSampling(ctx, 0.7, 20, 1), checkSampling(ctx, 1.0, 0, 1, 0.05)];
    ks.dispose();
    stream.dispose();
    return res.map((r) => ({ check: `kernel ${r.name}`, pass: r.pass, detail: `error ${r.error?.toExponential(2)} (tol ${r.tolerance?.toExponential(2)}); ${r.ms?.toFixed(4)} ms; ${r.note ?? ''}` }));
  } finally {
    device.dispose();
  }
}

const TPB = 32;

function logitsOnly(ctx: ExecutionContext): ExecutionContext {
  return { run: (s: StepInputs): Record<string, HostTensor> => ctx.run(s), memoryUsage: () => ctx.memoryUsage(), dispose: () => ctx.dispose() };
}

async function streams(ctx: ExecutionContext, vocab: number, reqs: GenerateRequest[]): Promise<{ ids: number[][]; preempt: number }> {
  const settings = { maxBatchSize: 8, maxNumTokens: 48, maxInputLen: 128, maxOutputLen: 64, chunkedPrefill: true };
  const ex = new Executor({ context: ctx, tokenizer: idTokenizer(vocab), settings, kv: { numBlocks: 14, tokensPerBlock: TPB, enablePrefixCaching: true } });
  const res = await ex.generate(reqs);
  const preempt = ex.stats().numPreemptions;
  ex.close();
  return { ids: res.map((r) => [...r.outputs[0]!.tokenIds]), preempt };
}

const same = (a: number[][], b: number[][]): number => a.filter((x, i) => x.join() === b[i]!.join()).length;

async function checkOne(name: string, engine: LoadedEngine, out: Row[]): Promise<void> {
  const m = engine.config.model!;
  const V = m.vocabSize;
  const spec: KvCacheSpec = { numLayers: m.numLayers, numKvHeads: m.numKvHeads, headDim: m.headDim, numBlocks: 14, tokensPerBlock: TPB, dtype: 'bfloat16' };
  const shared = Array.from({ length: 40 }, (_, i) => (i * 7 + 3) % V);
  const prompts = Array.from({ length: 10 }, (_, i) => [...(i % 2 === 0 ? shared : []), ...Array.from({ length: 5 + 9 * i }, (_, j) => (i * 31 + j * 13 + 1) % V)]);
  const reqs = (p: (i: number) => SamplingParams): GenerateRequest[] => prompts.map((t, i) => ({ promptTokenIds: t, params: { maxNewTokens: 24 + (i % 3) * 8, ignoreEos: true, ...p(i) } }));
  const greedy = reqs(() => ({ temperature: 0 }));
  const seeded = reqs((i) => ({ temperature: 0.8, topK: 40, topP: 0.95, seed: 1000 + i }));
  const ctx = new CudaContext(engine, { kvCache: spec, progress: false });
  try {
    const t0 = ctx.timing.sampledSteps;
    const gDev = await streams(ctx, V, greedy);
    const sampledSteps = ctx.timing.sampledSteps - t0;
    const gHost = await streams(logitsOnly(ctx), V, greedy);
    const g = same(gDev.ids, gHost.ids);
    out.push({ check: `${name}: greedy, GPU sampling vs logits path (Executor, 10 requests, preemption, shared prefix)`, pass: g === 10 && sampledSteps > 0 && gDev.preempt > 0,
      detail: `identical token streams ${g}/10; steps sampled on the GPU ${sampledSteps}; preemptions ${gDev.preempt} (logits path ${gHost.preempt})` });
    const s1 = await streams(ctx, V, seeded);
    const s2 = await streams(ctx, V, seeded);
    const alone: number[][] = [];
    for (const r of seeded.slice(0, 4)) alone.push((await streams(ctx, V, [r])).ids[0]!);
    const sHost = await streams(logitsOnly(ctx), V, seeded);
    const rep = same(s1.ids, s2.ids);
    out.push({ check: `${name}: seeded T=0.8 top_k=40 top_p=0.95 on the GPU`, pass: rep === 10,
      detail: `same batch twice: identical ${rep}/10; alone vs in the batch: identical ${same(alone, s1.ids.slice(0, 4))}/4; GPU vs host sampler (same uniforms): identical ${same(s1.ids, sHost.ids)}/10` });
  } finally {
    ctx.dispose();
  }
}

async function main(): Promise<number> {
  const outDir = process.env['OUT'] ?? 'cuda-report';
  const work = join(process.env['KILN_WORK'] ?? '/tmp/kiln-model-check', 'fixtures');
  mkdirSync(work, { recursive: true });
  mkdirSync(outDir, { recursive: true });
  const rows: Row[] = [];
  try {
    rows.push(...kernelChecks());
  } catch (e) {
    rows.push({ check: 'sampling kernels', pass: false, detail: `threw: ${(e as Error).stack ?? String(e)}`.slice(0, 1500) });
  }
  const print = (from: number): void => {
    for (const r of rows.slice(from)) process.stdout.write(`${r.pass ? 'PASS' : 'FAIL'} ${r.check}: ${r.detail}\n`);
  };
  print(0);
  for (const name of (process.env['KILN_FIXTURES'] ?? FIXTURES.join(',')).split(',')) {
    const from = rows.length;
    try {
      await checkOne(name, await buildFixture(name, work, (l) => process.stdout.write(`${l}\n`)), rows);
    } catch (e) {
      rows.push({ check: name, pass: false, detail: `threw: ${(e as Error).stack ?? String(e)}`.slice(0, 1500) });
    }
    print(from);
  }
  writeFileSync(join(outDir, 'sampling-check.json'), JSON.stringify({ date: new Date().toISOString(), rows }, null, 1));
  return rows.every((r) => r.pass) ? 0 : 1;
}

main().then((c) => { process.exitCode = c; }, (e: unknown) => { console.error(e); process.exitCode = 2; });
