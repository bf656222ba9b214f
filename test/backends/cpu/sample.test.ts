import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuContext } from '../../../src/backends/cpu/index.js';
import { sampleRow } from '../../../src/backends/cpu/sample.js';
import type { ExecutionContext, HostTensor, StepInputs } from '../../../src/backends/types.js';
import { loadEngine } from '../../../src/engine/reader.js';
import type { GenerateRequest } from '../../../src/runtime/api.js';
import { Executor } from '../../../src/runtime/executor/executor.js';
import { createSamplingConfig } from '../../../src/runtime/sampling/params.js';
import { sampleToken } from '../../../src/runtime/sampling/sampler.js';
import { uniformAt } from '../../../src/runtime/sampling/prng.js';
import type { TextTokenizer } from '../../../src/tokenizer/types.js';
import { buildTinyEngine, type TinyEngine } from '../../server/tiny-engine.js';

let tiny: TinyEngine;
beforeAll(async () => {
  tiny = await buildTinyEngine();
});
afterAll(() => tiny?.cleanup());

function idTokenizer(vocab: number): TextTokenizer {
  return {
    vocabSize: vocab, bosTokenId: null, eosTokenIds: [],
    encode: () => [], decode: () => '', hasChatTemplate: () => false,
    applyChatTemplate: () => { throw new Error('no chat template'); },
    createDetokenizer: () => ({ push: () => '', flush: () => '' }),
  };
}

/** The same context with the capability hidden: the executor takes the logits path. */
function logitsOnly(ctx: ExecutionContext): ExecutionContext {
  return { run: (s: StepInputs): Record<string, HostTensor> => ctx.run(s), memoryUsage: () => ctx.memoryUsage(), dispose: () => ctx.dispose() };
}

async function generate(ctx: ExecutionContext, vocab: number, reqs: GenerateRequest[]): Promise<number[][]> {
  const settings = { maxBatchSize: 8, maxNumTokens: 24, maxInputLen: 64, maxOutputLen: 32 };
  const ex = new Executor({ context: ctx, tokenizer: idTokenizer(vocab), settings, kv: { numBlocks: 48, tokensPerBlock: 4 } });
  const res = await ex.generate(reqs);
  ex.close();
  return res.map((r) => [...r.outputs[0]!.tokenIds]);
}

describe('CpuContext.runAndSample (the reference of device sampling)', () => {
  it('greedy and seeded requests on the tiny engine: identical tokens on both executor paths', async () => {
    const engine = loadEngine(tiny.engineDir);
    const m = engine.config.model!;
    const spec = { numLayers: m.numLayers, numKvHeads: m.numKvHeads, headDim: m.headDim, numBlocks: 48, tokensPerBlock: 4, dtype: 'float32' as const };
    const prompts = [[1, 2, 3, 4, 5], [9, 8], [17, 30, 31, 32, 33, 34, 35, 36, 37, 38]];
    const reqs: GenerateRequest[] = prompts.flatMap((p, i) => [
      { promptTokenIds: p, params: { temperature: 0, maxNewTokens: 8, ignoreEos: true } },
      { promptTokenIds: p, params: { temperature: 1.1, topK: 20, topP: 0.95, seed: 11 + i, maxNewTokens: 8, ignoreEos: true } },
    ]);
    const dev = new CpuContext(engine, { kvCache: spec });
    const host = new CpuContext(engine, { kvCache: spec });
    try {
      expect(dev.sampleOnDevice).toBe(true);
      const a = await generate(dev, m.vocabSize, reqs);
      const b = await generate(logitsOnly(host), m.vocabSize, reqs);
      expect(a).toEqual(b);
      expect(a.every((t) => t.length === 8)).toBe(true);
    } finally {
      dev.dispose();
      host.dispose();
    }
  });

  it('sampleRow with uniform = uniformAt(seed, index, step) picks what sampleToken picks', () => {
    const row = Float32Array.from({ length: 300 }, (_, i) => Math.sin(i * 1.7) * 3 + Math.cos(i * 0.31));
    const settings = [
      { temperature: 0.7, topK: 10, topP: 0.8, minP: 0.1 },
      { temperature: 1.3, topK: 0, topP: 0.9, minP: 0 },
      { temperature: 1, topK: 0, topP: 1, minP: 0 },
    ];
    const distinct = new Set<number>();
    for (const st of settings) {
      const cfg = createSamplingConfig(st);
      for (let step = 0; step < 40; step++) {
        const outputTokens = new Array<number>(step).fill(0);
        const want = sampleToken(row, cfg, { promptTokens: [], outputTokens, seed: 77, index: 1, suppress: new Set() }).tokenId;
        expect(sampleRow(row, { ...st, uniform: uniformAt(77, 1, step) })).toBe(want);
        distinct.add(want);
      }
    }
    expect(distinct.size).toBeGreaterThan(5); // the draws really vary
    expect(sampleRow(row, { temperature: 0, topK: 0, topP: 1, minP: 0, uniform: 0.5 })).toBe(row.indexOf(Math.max(...row)));
  });
});
