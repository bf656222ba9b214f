// Host-overhead profile: Executor + Llama-3 tokenizer over an instant "device-sampling" context (no model).
import type { ExecutionContext, HostTensor, RowSampling, SampledStep, StepInputs } from '../../src/backends/types.js';
import { Executor } from '../../src/runtime/executor/executor.js';
import { loadTokenizer } from '../../src/tokenizer/index.js';
const V = 128256;
let steps = 0;
const ctx: ExecutionContext = {
  sampleOnDevice: true,
  run: (): Record<string, HostTensor> => { throw new Error('no'); },
  runAndSample: (_s: StepInputs, sampling: readonly RowSampling[]): SampledStep => { steps++; return { tokenIds: Int32Array.from(sampling, (_, i) => 1000 + ((i * 7919 + steps * 31) % 100000)) }; },
  memoryUsage: () => ({ weights: 0, kvCache: 0, activations: 0 }),
  dispose: () => undefined,
};
const tok = loadTokenizer('/tmp/tinyk/l3tok');
const ex = new Executor({ context: ctx, tokenizer: tok, settings: { maxBatchSize: 256, maxNumTokens: 8192, maxInputLen: 1024, maxOutputLen: 1024 }, kv: { numBlocks: 30000, tokensPerBlock: 16 } });
const reqs = Array.from({ length: 1024 }, (_, r) => ({ promptTokenIds: Array.from({ length: 128 }, (_, i) => 1000 + ((r * 131 + i * 17) % 100000)), params: { maxNewTokens: 128, ignoreEos: true, temperature: 0 } }));
const t0 = performance.now();
await ex.generate(reqs);
console.log(`1024 x 128/128: ${(performance.now() - t0).toFixed(0)} ms host-only, ${steps} steps, ${((1024 * 128) / ((performance.now() - t0) / 1000)).toFixed(0)} tok/s ceiling`);
ex.close();
