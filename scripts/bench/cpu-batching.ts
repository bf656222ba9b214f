/**
 * In-flight vs static batching on the CPU backend (issue 3's benchmark, not a test).
 * A mixed workload (short and long outputs) runs twice on the same engine:
 *  - in-flight: every request submitted at once; the scheduler refills free batch slots each step;
 *  - static: requests in groups of max_batch_size; a group starts only when the previous one is done.
 * Prints tokens/s and steady-state KV fragmentation of each, and writes a JSON report.
 *
 * Usage: npx tsx scripts/bench/cpu-batching.ts [--out docs/bench/cpu-batching.json]
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildFromCheckpoint } from '../../src/builder/build-command.js';
import { convertCheckpoint } from '../../src/checkpoint/convert.js';
import { writeTinyModel } from '../../src/checkpoint/tiny-model.js';
import { writeFileAtomic } from '../../src/bench/report.js';
import { createRng } from '../../src/bench/workload.js';
import type { GenerateRequest } from '../../src/runtime/api.js';
import { LLM } from '../../src/runtime/llm.js';

const MAX_BATCH = 8;
const NUM_REQUESTS = 32;
const TOKENS_PER_BLOCK = 8;
/** Wide enough that a step's cost is dominated by reading weights, as on real hardware. */
const SHAPE = { hiddenSize: 512, numLayers: 4, numHeads: 8, numKvHeads: 2, headDim: 64, intermediateSize: 1536 };

function workload(vocabSize: number): GenerateRequest[] {
  const rng = createRng(7);
  return Array.from({ length: NUM_REQUESTS }, (_, i) => {
    // Mixed outputs: most short, some long — the case where static batching idles slots.
    const outLen = rng() < 0.25 ? 96 + Math.floor(rng() * 64) : 8 + Math.floor(rng() * 24);
    const inLen = 48 + Math.floor(rng() * 112);
    const ids = Array.from({ length: inLen }, () => Math.floor(rng() * vocabSize));
    return { requestId: `r${i}`, promptTokenIds: ids, params: { maxNewTokens: outLen, ignoreEos: true, temperature: 0 } };
  });
}

interface RunStats { seconds: number; tokens: number; tokPerS: number; fragmentation: number; steps: number }

async function measure(llm: LLM, run: () => Promise<number>): Promise<RunStats> {
  const samples: number[] = [];
  const steps0 = llm.stats().numSteps;
  const timer = setInterval(() => {
    const kv = llm.stats().kv;
    if (kv.numUsed > 0) samples.push(kv.fragmentation);
  }, 5);
  const t0 = performance.now();
  const tokens = await run();
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  const fragmentation = samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length);
  return { seconds, tokens, tokPerS: tokens / seconds, fragmentation, steps: llm.stats().numSteps - steps0 };
}

const count = (results: Awaited<ReturnType<LLM['generate']>>): number =>
  results.reduce((s, r) => s + r.outputs.reduce((t, o) => t + o.tokenIds.length, 0), 0);

async function main(): Promise<void> {
  const outIdx = process.argv.indexOf('--out');
  const out = outIdx > 0 ? process.argv[outIdx + 1]! : 'docs/bench/cpu-batching.json';
  const work = mkdtempSync(join(tmpdir(), 'kiln-batching-'));
  await writeTinyModel(join(work, 'hf'), { seed: 0, shape: SHAPE });
  await convertCheckpoint({ modelDir: join(work, 'hf'), outputDir: join(work, 'ckpt'), dtype: 'float32' });
  await buildFromCheckpoint({ checkpointDir: join(work, 'ckpt'), outputDir: join(work, 'engine'), target: 'cpu', settings: { maxBatchSize: MAX_BATCH, maxNumTokens: 512, maxInputLen: 256, maxOutputLen: 256 } });
  const llm = new LLM({ engineDir: join(work, 'engine'), tokensPerBlock: TOKENS_PER_BLOCK });
  const requests = workload(llm.vocabSize);
  const runInflight = (): Promise<RunStats> => measure(llm, async () => count(await llm.generate(requests)));
  const runStatic = (): Promise<RunStats> => measure(llm, async () => {
    let tokens = 0;
    for (let i = 0; i < requests.length; i += MAX_BATCH) tokens += count(await llm.generate(requests.slice(i, i + MAX_BATCH)));
    return tokens;
  });
  await llm.generate(requests.slice(0, MAX_BATCH)); // warm-up (JIT)
  const inflight = await runInflight();
  const staticRun = await runStatic();
  llm.dispose();
  const report = { date: new Date().toISOString(), node: process.version, maxBatchSize: MAX_BATCH, numRequests: NUM_REQUESTS, tokensPerBlock: TOKENS_PER_BLOCK, inflight, static: staticRun, speedup: inflight.tokPerS / staticRun.tokPerS };
  mkdirSync(dirname(out), { recursive: true });
  writeFileAtomic(out, `${JSON.stringify(report, null, 2)}\n`);
  const row = (name: string, r: RunStats): string => `| ${name} | ${r.tokens} | ${r.steps} | ${r.seconds.toFixed(2)} | ${r.tokPerS.toFixed(1)} | ${(100 * r.fragmentation).toFixed(2)}% |`;
  console.log('| batching | tokens | steps | seconds | tok/s | mean KV fragmentation |\n| --- | --- | --- | --- | --- | --- |');
  console.log(row('in-flight', inflight));
  console.log(row('static', staticRun));
  console.log(`in-flight / static: ${report.speedup.toFixed(2)}×  (written to ${out})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
