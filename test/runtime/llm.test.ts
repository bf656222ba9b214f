import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBackend } from '../../src/backends/registry.js';
import { loadEngine } from '../../src/engine/reader.js';
import type { RequestResult } from '../../src/runtime/api.js';
import { LLM } from '../../src/runtime/llm.js';
import { buildTinyEngine, type TinyEngine } from '../server/tiny-engine.js';

let tiny: TinyEngine;

beforeAll(async () => {
  tiny = await buildTinyEngine();
});

afterAll(() => tiny?.cleanup());

const PROMPTS = ['Hello there', 'The quick brown fox jumps over the lazy dog and keeps running', 'a', '你好，世界 👋'];

describe('LLM on the CPU backend (tiny built-in model)', () => {
  it('batched greedy generation equals one-at-a-time, and chunked paged attention equals full recompute', async () => {
    const params = { temperature: 0, maxNewTokens: 12, ignoreEos: true };
    // Small blocks, a small step budget and a small pool: chunked prefill, several blocks per sequence.
    const llm = new LLM({ engineDir: tiny.engineDir, tokensPerBlock: 4, kvCacheBytes: 1 << 20, maxNumTokens: 8 });
    const batched = await llm.generate(PROMPTS, params);
    const alone: RequestResult[] = [];
    for (const p of PROMPTS) alone.push((await llm.generate([p], params))[0]!);
    batched.forEach((r, i) => {
      expect(r.outputs[0]!.tokenIds).toEqual(alone[i]!.outputs[0]!.tokenIds);
      expect(r.outputs[0]!.tokenIds).toHaveLength(12);
      expect(r.prompt).toBe(PROMPTS[i]);
    });
    expect(llm.stats().kv.numUsed).toBe(0);
    expect(llm.stats().kv.prefixHitRate).toBeGreaterThan(0); // the alone runs hit the batched run's blocks

    // Reference: recompute the whole sequence in one prefill (fresh blocks) and take the argmax.
    const engine = loadEngine(tiny.engineDir);
    const model = engine.config.model!;
    const spec = { numLayers: model.numLayers, numKvHeads: model.numKvHeads, headDim: model.headDim, numBlocks: 64, tokensPerBlock: 4, dtype: 'float32' as const };
    const ctx = (await getBackend('cpu')).createContext(engine, { kvCache: spec });
    const r = batched[1]!;
    const seq = [...r.promptTokenIds];
    for (const expected of r.outputs[0]!.tokenIds) {
      const n = seq.length;
      const out = ctx.run({
        tensors: {
          input_ids: { dtype: 'int32', shape: [n], data: Int32Array.from(seq) },
          positions: { dtype: 'int32', shape: [n], data: Int32Array.from(seq.keys()) },
          logits_indices: { dtype: 'int32', shape: [1], data: Int32Array.from([n - 1]) },
        },
        attention: {
          seqs: [{ queryStart: 0, numQueryTokens: n, contextLen: n, blockTable: Int32Array.from({ length: Math.ceil(n / 4) }, (_, i) => i) }],
          slotMapping: Int32Array.from(seq.keys()),
        },
      });
      const logits = out['logits']!.data as Float32Array;
      let best = 0;
      for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[best]!) best = v;
      expect(best).toBe(expected);
      seq.push(expected);
    }
    ctx.dispose();
    llm.dispose();
  });

  it('streams deltas whose text adds up to the final text; rejects over-long prompts', async () => {
    const llm = new LLM({ engineDir: tiny.engineDir });
    let text = '';
    let last;
    for await (const d of llm.submit('Once upon a time', { temperature: 0.7, seed: 5, maxNewTokens: 10 })) {
      text += d.text;
      last = d;
    }
    expect(last?.finishReason).toBeDefined();
    const [again] = await llm.generate(['Once upon a time'], { temperature: 0.7, seed: 5, maxNewTokens: 10 });
    expect(again!.outputs[0]!.text).toBe(text);
    await expect(llm.generate(['x'.repeat(2000)])).rejects.toThrow(/max_input_len/);
    llm.dispose();
  });
});
