/**
 * Device checks of the CUDA runtime items (issue 5 item 4, item 2's sampling):
 *  - checkPenaltiesLogprobs (check.ts, sync): DeviceSampler with repetition/presence/frequency
 *    penalties, suppressed ids and logprobs on fresh random logits [16, 128256] vs the runtime's
 *    host sampler (sampleToken / tokenLogprob, float64): greedy ids exact, seeded draws ≤ 1 of 8 rows
 *    apart (float32 vs float64 probabilities at a bucket edge), logprobs (chosen and top-n, raw
 *    log-softmax) within 1e-4 absolute, top ids exact, the penalised logits restored bit-exactly.
 *    A first enqueue over other logits makes stale results visible (results are not poisoned).
 *  - checkRuntime (model-check.ts, async): a fixture engine through the Executor's async path
 *    (enqueueAndSample + overlap), greedy requests with penalties, logprobs and min_tokens: vs the
 *    host sampler over the same CUDA logits (identical ids, logprobs ≤ 1e-4) and vs the CPU backend
 *    (bf16 vs f32 logits, judged as check-fixtures.ts judges CUDA vs CPU streams: every stream equal,
 *    or first differing where the CPU's own top-1/top-2 margin, after penalties and suppression, is
 *    below 4·max|Δlogit|·max(rep, 1/rep), max|Δlogit| measured between CUDA and CPU logits teacher-
 *    forced with the CPU's tokens; seeded sampled streams: first differing where the draw's uniform
 *    lies within exp(4·max|Δlogit|/T) − 1 of a CDF bucket edge; logprobs compared only before a
 *    stream's first difference, within 4·max|Δlogit|); CUDA graphs captured at load
 *    (count); event-loop lateness of a 1 ms setInterval while decoding; wall time of the same
 *    workload with the synchronous path (KILN_SYNC_STEPS=1) vs the overlapped one.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CpuContext } from '../../src/backends/cpu/index.js';
import { CudaContext, decodeBuckets } from '../../src/backends/cuda/index.js';
import { DeviceSampler } from '../../src/backends/cuda/device-sampler.js';
import type { ExecutionContext, KvCacheSpec, RowSampling } from '../../src/backends/types.js';
import type { LoadedEngine } from '../../src/engine/reader.js';
import type { GenerateRequest, RequestResult, SamplingParams } from '../../src/runtime/api.js';
import { Executor } from '../../src/runtime/executor/executor.js';
import { createSamplingConfig } from '../../src/runtime/sampling/params.js';
import { PenaltyTracker } from '../../src/runtime/sampling/penalty-tracker.js';
import { uniformAt } from '../../src/runtime/sampling/prng.js';
import { logSoftmax, softmax } from '../../src/runtime/sampling/processors.js';
import { processLogits, sampleToken, tokenLogprob } from '../../src/runtime/sampling/sampler.js';
import type { Ctx } from './check-kernels.js';
import { buildFixture, type Row } from './check-fixtures.js';
import { Arena, type CheckResult } from './harness.js';
import { idTokenizer, makeStep, rows, runLogits, seqStates } from './model-harness.js';

const LP_TOL = 1e-4;

interface CaseRow {
  readonly params: SamplingParams;
  readonly prompt: number[];
  readonly output: number[];
  readonly suppress: Set<number>;
}

function makeCases(c: Ctx, rows: number, vocab: number, logits: Float32Array): CaseRow[] {
  return Array.from({ length: rows }, (_, r) => {
    const prompt = Array.from({ length: 50 + c.rng.int(250) }, () => c.rng.int(vocab));
    const pool = Array.from({ length: 12 }, () => c.rng.int(vocab));
    // Outputs drawn from a small pool (counts > 1) plus the row's own top logits, so penalties move the winner.
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    const top = [...row.keys()].sort((a, b) => row[b]! - row[a]!).slice(0, 3);
    const output = [...Array.from({ length: c.rng.int(60) }, () => pool[c.rng.int(pool.length)]!), ...top];
    const params: SamplingParams = {
      temperature: r % 2 === 0 ? 0 : 0.8,
      repetitionPenalty: [1, 1.3, 0.8][r % 3]!,
      presencePenalty: r % 4 === 1 ? 0.5 : 0,
      frequencyPenalty: r % 5 === 2 ? 0.3 : 0,
      ...(r % 3 === 0 ? {} : { logprobs: r % 3 === 1 ? 20 : 5 }),
      ...(r % 6 === 5 ? { topK: 50, topP: 0.9 } : {}),
      seed: 1000 + r,
    };
    const suppress = r % 4 >= 2 ? new Set([top[0]!, c.rng.int(vocab)]) : new Set<number>();
    return { params, prompt, output, suppress };
  });
}

function rowSampling(k: CaseRow): RowSampling {
  const cfg = createSamplingConfig(k.params);
  let penalties;
  if (PenaltyTracker.isNeeded(cfg)) {
    const t = new PenaltyTracker(cfg, k.prompt);
    for (const x of k.output) t.add(x);
    penalties = t.penalties();
  }
  return {
    temperature: cfg.temperature, topK: cfg.topK, topP: cfg.topP, minP: cfg.minP,
    uniform: cfg.temperature === 0 ? 0 : uniformAt(cfg.seed ?? 0, 0, k.output.length),
    ...(penalties ? { penalties } : {}),
    ...(k.suppress.size > 0 ? { suppress: [...k.suppress] } : {}),
    ...(cfg.logprobs !== undefined ? { logprobs: cfg.logprobs } : {}),
  };
}

export function checkPenaltiesLogprobs(c: Ctx): CheckResult {
  const rows = 16, vocab = 128256;
  const a = new Arena(c.device, c.stream);
  const sampler = new DeviceSampler(c.device, c.ks, rows, vocab);
  try {
    const logits = c.rng.floats(rows * vocab, -8, 8);
    const cases = makeCases(c, rows, vocab, logits);
    const sampling = cases.map(rowSampling);
    const stale = a.upload(c.rng.floats(rows * vocab, -8, 8));
    sampler.enqueue(stale.ptr, sampling, c.stream);
    sampler.read(rows, c.stream);
    const d = a.upload(logits);
    sampler.enqueue(d.ptr, sampling, c.stream);
    const got = sampler.read(rows, c.stream);
    const after = new Float32Array(rows * vocab);
    d.download(after, c.stream);
    let greedyWrong = 0, drawWrong = 0, topWrong = 0, lpErr = 0, notRestored = 0;
    cases.forEach((k, r) => {
      const cfg = createSamplingConfig(k.params);
      const raw = logits.subarray(r * vocab, (r + 1) * vocab);
      const want = sampleToken(raw, cfg, { promptTokens: k.prompt, outputTokens: k.output, seed: cfg.seed ?? 0, index: 0, suppress: k.suppress });
      const id = got.tokenIds[r]!;
      if (id !== want.tokenId) { if (cfg.temperature === 0) greedyWrong++; else drawWrong++; }
      if (cfg.logprobs === undefined) return;
      const ref = tokenLogprob(logSoftmax(raw), id, cfg.logprobs);
      const lp = got.logprobs?.[r];
      if (!lp) { topWrong++; return; }
      lpErr = Math.max(lpErr, Math.abs(lp.logprob - ref.logprob));
      if (lp.top.length !== ref.top.length) topWrong++;
      ref.top.forEach((t, i) => {
        const g = lp.top[i];
        if (!g || g.tokenId !== t.tokenId) topWrong++;
        else lpErr = Math.max(lpErr, Math.abs(g.logprob - t.logprob));
      });
      for (let i = 0; i < vocab; i++) if (after[r * vocab + i] !== raw[i]) notRestored++;
    });
    const ms = a.time(() => sampler.enqueue(d.ptr, sampling, c.stream), 5);
    const pass = greedyWrong === 0 && drawWrong <= 1 && topWrong === 0 && lpErr <= LP_TOL && notRestored === 0;
    return { name: `sampling penalties + suppress + logprobs rows=${rows} vocab=${vocab}`, pass, error: lpErr, tolerance: LP_TOL, ms,
      note: `greedy ids differing ${greedyWrong}/8 (must be 0), seeded draws differing ${drawWrong}/8 (≤ 1), top-n ids differing ${topWrong}, logprob max |Δ| ${lpErr.toExponential(2)}, logits not restored ${notRestored}` };
  } finally {
    sampler.dispose();
    a.dispose();
  }
}

const TPB = 32;

function mixedRequests(vocab: number): GenerateRequest[] {
  const p = (i: number): number[] => Array.from({ length: 6 + 7 * i }, (_, j) => (i * 37 + j * 11 + 5) % vocab);
  const params: SamplingParams[] = [
    { temperature: 0 },
    { temperature: 0, repetitionPenalty: 1.3 },
    { temperature: 0, presencePenalty: 0.8, frequencyPenalty: 0.5 },
    { temperature: 0, logprobs: 5 },
    { temperature: 0, repetitionPenalty: 0.9, logprobs: 0 },
    // 64 stop ids, suppressed (-inf on the GPU) for the first 6 tokens (the id tokenizer has no EOS).
    { temperature: 0, minTokens: 6, logprobs: 2, stopTokenIds: Array.from({ length: 64 }, (_, i) => (i * 5 + 1) % vocab) },
  ];
  return params.map((x, i) => ({ promptTokenIds: p(i), params: { maxNewTokens: 20, ignoreEos: true, ...x } }));
}

async function runExecutor(ctx: ExecutionContext, vocab: number, reqs: GenerateRequest[], onTick?: () => void): Promise<{ res: RequestResult[]; ms: number }> {
  const settings = { maxBatchSize: 8, maxNumTokens: 64, maxInputLen: 128, maxOutputLen: 64, chunkedPrefill: true };
  const ex = new Executor({ context: ctx, tokenizer: idTokenizer(vocab), settings, kv: { numBlocks: 40, tokensPerBlock: TPB, enablePrefixCaching: true } });
  const timer = onTick ? setInterval(onTick, 1) : undefined;
  const t0 = performance.now();
  try {
    const res = await ex.generate(reqs);
    return { res, ms: performance.now() - t0 };
  } finally {
    if (timer) clearInterval(timer);
    ex.close();
  }
}

function compareResults(a: RequestResult[], b: RequestResult[]): { same: number; lpErr: number; lpMissing: number } {
  let same = 0, lpErr = 0, lpMissing = 0;
  a.forEach((x, i) => {
    const oa = x.outputs[0]!, ob = b[i]!.outputs[0]!;
    if (oa.tokenIds.join() === ob.tokenIds.join()) same++;
    (oa.logprobs ?? []).forEach((l, j) => {
      const m = ob.logprobs?.[j];
      if (!m || m.top.length !== l.top.length) { lpMissing++; return; }
      if (m.tokenId === l.tokenId) lpErr = Math.max(lpErr, Math.abs(m.logprob - l.logprob));
    });
  });
  return { same, lpErr, lpMissing };
}

/** Teacher-forced logits of prompt + `output` on `ctx`: row d is the one `output[d]` was chosen from. */
function forcedRows(ctx: ExecutionContext, prompt: readonly number[], output: readonly number[], vocab: number): Float32Array[] {
  const tokens = [...prompt, ...output];
  const seq = seqStates(1, Math.ceil(tokens.length / TPB))[0]!;
  return rows(runLogits(ctx, makeStep([seq], [tokens], TPB, true)), vocab).slice(prompt.length - 1, prompt.length - 1 + output.length);
}

/** Whether the CPU's choice at step `d` of `req` (its tokens `out`, its logits `row`) was a near-tie for logits perturbed by up to `maxDelta`. */
function nearTie(req: GenerateRequest, out: readonly number[], d: number, row: Float32Array | undefined, maxDelta: number): { tie: boolean; note: string } {
  if (!row) return { tie: false, note: 'no CPU row' };
  const cfg = createSamplingConfig(req.params);
  const prompt = req.promptTokenIds!;
  const suppress = new Set(d < cfg.minTokens ? cfg.stopTokenIds : []);
  const seed = cfg.seed ?? 0;
  const logits = processLogits(row, cfg, { promptTokens: prompt, outputTokens: out.slice(0, d), seed, index: 0, suppress });
  if (cfg.temperature === 0) {
    let top = -Infinity, second = -Infinity;
    for (const v of logits) { if (v > top) { second = top; top = v; } else if (v > second) second = v; }
    const bound = 4 * maxDelta * Math.max(cfg.repetitionPenalty, 1 / cfg.repetitionPenalty);
    return { tie: top - second < bound, note: `margin ${(top - second).toFixed(4)} vs ${bound.toFixed(4)}` };
  }
  const probs = softmax(logits);
  const u = uniformAt(seed, 0, d);
  let cum = 0, dist = Math.abs(u);
  for (const q of probs) { if (q <= 0) continue; cum += q; dist = Math.min(dist, Math.abs(cum - u)); }
  // Logits moved by ≤ maxDelta move the log of any partial probability sum by ≤ 2·maxDelta/T; ×2 for batch shapes.
  const eps = Math.exp((4 * maxDelta) / cfg.temperature) - 1;
  return { tie: dist < eps, note: `uniform ${dist.toExponential(2)} from a bucket edge vs ${eps.toExponential(2)}` };
}

interface CpuComparison { readonly same: number; readonly ties: number; readonly notes: string[]; readonly lpErr: number; readonly lpMissing: number; readonly maxDelta: number }

/**
 * CUDA (`got`) vs CPU (`want`) streams of `reqs`: each equal, or first differing at a CPU near-tie
 * (`nearTie`); logprobs compared only before a stream's first difference (same context on both).
 */
function compareWithCpu(cpu: ExecutionContext, gpu: ExecutionContext, vocab: number, reqs: GenerateRequest[], want: RequestResult[], got: RequestResult[]): CpuComparison {
  let maxDelta = 0;
  const cpuRows = reqs.map((r, i) => {
    const out = want[i]!.outputs[0]!.tokenIds;
    const a = forcedRows(cpu, r.promptTokenIds!, out, vocab).map((x) => Float32Array.from(x));
    const b = forcedRows(gpu, r.promptTokenIds!, out, vocab);
    a.forEach((x, d) => x.forEach((v, k) => { maxDelta = Math.max(maxDelta, Math.abs(v - b[d]![k]!)); }));
    return a;
  });
  let same = 0, ties = 0, lpErr = 0, lpMissing = 0;
  const notes: string[] = [];
  reqs.forEach((r, i) => {
    const oa = want[i]!.outputs[0]!, ob = got[i]!.outputs[0]!;
    const n = Math.max(oa.tokenIds.length, ob.tokenIds.length);
    let first = -1;
    for (let d = 0; d < n && first < 0; d++) if (oa.tokenIds[d] !== ob.tokenIds[d]) first = d;
    if (first < 0) same++;
    else {
      const t = nearTie(r, oa.tokenIds, first, cpuRows[i]![first], maxDelta);
      if (t.tie) ties++;
      notes.push(`r${i} first differs at ${first}: ${t.note}${t.tie ? ' (near-tie)' : ' (NOT a near-tie)'}`);
    }
    (oa.logprobs ?? []).forEach((l, j) => {
      if (first >= 0 && j >= first) return;
      const m = ob.logprobs?.[j];
      if (!m || m.top.length !== l.top.length) { lpMissing++; return; }
      lpErr = Math.max(lpErr, Math.abs(m.logprob - l.logprob));
    });
  });
  return { same, ties, notes, lpErr, lpMissing, maxDelta };
}

/** Event-loop lateness (ms) of a 1 ms setInterval while `run` decodes: mean and max over the ticks. */
async function lateness(run: (tick: () => void) => Promise<unknown>): Promise<{ mean: number; max: number; ticks: number }> {
  let last = performance.now(), sum = 0, max = 0, ticks = 0;
  await run(() => {
    const now = performance.now();
    const late = Math.max(0, now - last - 1);
    sum += late; max = Math.max(max, late); ticks++;
    last = now;
  });
  return { mean: ticks ? sum / ticks : 0, max, ticks };
}

async function withEnv<T>(name: string, value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const old = process.env[name];
  if (value === undefined) delete process.env[name]; else process.env[name] = value;
  try {
    return await fn();
  } finally {
    if (old === undefined) delete process.env[name]; else process.env[name] = old;
  }
}

async function checkEngine(name: string, engine: LoadedEngine, out: Row[]): Promise<void> {
  const m = engine.config.model!;
  const V = m.vocabSize;
  const spec: KvCacheSpec = { numLayers: m.numLayers, numKvHeads: m.numKvHeads, headDim: m.headDim, numBlocks: 40, tokensPerBlock: TPB, dtype: 'bfloat16' };
  const reqs = mixedRequests(V);
  const cpu = new CpuContext(engine, { kvCache: { ...spec, dtype: 'float32' } });
  const want = (await runExecutor(cpu, V, reqs)).res;
  const gpu = new CudaContext(engine, { kvCache: spec, progress: false });
  try {
    const graphs = gpu.timing.graphsAtLoad;
    const b = engine.config.build;
    out.push({ check: `${name}: CUDA graphs captured at load`, pass: graphs > 0 && graphs === decodeBuckets(Math.min(b.maxBatchSize, b.maxNumTokens)).length,
      detail: `${graphs} decode buckets captured in ${gpu.timing.graphCaptureMs.toFixed(0)} ms` });
    const replays0 = gpu.numGraphReplays;
    const got = (await runExecutor(gpu, V, reqs)).res;
    // The same engine's logits sampled by the host (run() only): same float32 logits, so exact ids.
    const hostPath: ExecutionContext = { run: (st) => gpu.run(st), memoryUsage: () => gpu.memoryUsage(), dispose: () => undefined };
    const host = (await runExecutor(hostPath, V, reqs)).res;
    const vsHost = compareResults(host, got);
    out.push({ check: `${name}: async Executor, sampling on the GPU vs the host sampler over the same CUDA logits (greedy, penalties, logprobs, min_tokens)`,
      pass: vsHost.same === reqs.length && vsHost.lpMissing === 0 && vsHost.lpErr <= LP_TOL && gpu.timing.asyncSteps > 0,
      detail: `identical token streams ${vsHost.same}/${reqs.length}; logprob max |Δ| ${vsHost.lpErr.toExponential(2)} (tol ${LP_TOL}), missing ${vsHost.lpMissing}; async steps ${gpu.timing.asyncSteps}, event polls ${gpu.timing.asyncPolls}, graph replays ${gpu.numGraphReplays - replays0}` });
    const cmp = compareWithCpu(cpu, gpu, V, reqs, want, got);
    // |Δ logprob| ≤ |Δx| + |Δ logsumexp x| ≤ 2·max|Δlogit|; ×2 as the near-tie bound allows for the executor's other batch shapes.
    const lpTol = 4 * cmp.maxDelta;
    out.push({ check: `${name}: async Executor on CUDA vs the CPU backend (same requests)`,
      pass: cmp.same + cmp.ties === reqs.length && cmp.lpMissing === 0 && cmp.lpErr <= lpTol && Number.isFinite(cmp.maxDelta),
      detail: `identical token streams ${cmp.same}/${reqs.length}, the others first differ at a CPU near-tie: ${cmp.ties} (greedy: CPU top-1 − top-2 after penalties/suppression < 4·max|Δlogit|·max(rep, 1/rep); seeded sampled: uniform within exp(4·max|Δlogit|/T) − 1 of a CDF edge)${cmp.notes.length ? ` [${cmp.notes.join('; ')}]` : ''}; max|Δlogit| CUDA vs CPU, teacher-forced on the CPU's tokens: ${cmp.maxDelta.toFixed(4)}; logprob max |Δ| before each stream's first difference ${cmp.lpErr.toExponential(2)} (tol 4·max|Δlogit| = ${lpTol.toExponential(2)}: 2·max|Δlogit| bounds a log-softmax change, ×2 for batch shapes), missing ${cmp.lpMissing}` });
    const load = Array.from({ length: 8 }, (_, i) => ({ promptTokenIds: Array.from({ length: 16 }, (_, j) => (i * 13 + j * 7) % V), params: { maxNewTokens: 48, temperature: 0, ignoreEos: true } }));
    const asyncLate = await lateness((tick) => runExecutor(gpu, V, load, tick));
    const syncLate = await withEnv('KILN_SYNC_STEPS', '1', () => lateness((tick) => runExecutor(gpu, V, load, tick)));
    const tAsync = (await runExecutor(gpu, V, load)).ms;
    const tSync = (await withEnv('KILN_SYNC_STEPS', '1', () => runExecutor(gpu, V, load))).ms;
    out.push({ check: `${name}: event loop while decoding (1 ms setInterval lateness) and overlap`, pass: asyncLate.ticks > 0,
      detail: `async: mean ${asyncLate.mean.toFixed(3)} ms, max ${asyncLate.max.toFixed(2)} ms over ${asyncLate.ticks} ticks; sync: mean ${syncLate.mean.toFixed(3)} ms, max ${syncLate.max.toFixed(2)} ms over ${syncLate.ticks} ticks; 8 x 16/48 greedy wall ${tAsync.toFixed(1)} ms overlapped vs ${tSync.toFixed(1)} ms synchronous` });
  } finally {
    gpu.dispose();
    cpu.dispose();
  }
}

/** The engine-level runtime checks on one fixture (default llama3-gqa; KILN_RUNTIME_FIXTURE overrides). */
export async function checkRuntime(work: string, log: (l: string) => void): Promise<Row[]> {
  const out: Row[] = [];
  const name = process.env['KILN_RUNTIME_FIXTURE'] ?? 'llama3-gqa';
  try {
    const dir = join(work, 'runtime');
    mkdirSync(dir, { recursive: true });
    await checkEngine(name, await buildFixture(name, dir, log), out);
  } catch (e) {
    out.push({ check: `${name}: runtime checks`, pass: false, detail: `threw: ${(e as Error).stack ?? String(e)}`.slice(0, 1500) });
  }
  log(out.map((r) => `${r.pass ? 'PASS' : 'FAIL'} ${r.check}: ${r.detail}`).join('\n'));
  return out;
}
