import { describe, expect, it } from 'vitest';
import type { GenerateRequest, RequestResult, SamplingParams } from '../../../src/runtime/api.js';
import { Executor } from '../../../src/runtime/executor/executor.js';
import type { TextTokenizer } from '../../../src/tokenizer/types.js';
import { BYTE_VOCAB, EOS, FakeContext, byteTokenizer, hashLogits } from '../fakes.js';
import { AsyncFakeContext } from './async-fake.js';

const model = hashLogits(BYTE_VOCAB);

/** byteTokenizer whose detokenizers log each token they turn into text. */
function loggingTokenizer(log: string[]): TextTokenizer {
  return {
    ...byteTokenizer,
    createDetokenizer: (o) => {
      const d = byteTokenizer.createDetokenizer(o);
      return { push: (ids) => { log.push(`detok ${ids.join()}`); return d.push(ids); }, flush: () => d.flush() };
    },
  };
}

const settings = { maxBatchSize: 8, maxNumTokens: 64, maxInputLen: 256, maxOutputLen: 256 };

async function generate(context: FakeContext, requests: GenerateRequest[], tokenizer: TextTokenizer = byteTokenizer): Promise<RequestResult[]> {
  const ex = new Executor({ context, tokenizer, settings, kv: { numBlocks: 64, tokensPerBlock: 4 } });
  const res = await ex.generate(requests);
  ex.close();
  return res;
}

const strip = (r: RequestResult[]): unknown => r.map((x) => x.outputs.map((o) => ({ ids: o.tokenIds, text: o.text, reason: o.finishReason, lps: o.logprobs })));

describe('Executor over a context with enqueueAndSample (overlap)', () => {
  it('detokenizes step N only after step N+1 was enqueued, before it completes', async () => {
    const log: string[] = [];
    const ctx = new AsyncFakeContext(64, 4, model, log);
    const [res] = await generate(ctx, [{ promptTokenIds: [65, 66, 67], params: { temperature: 0, maxNewTokens: 5, ignoreEos: true } }], loggingTokenizer(log));
    const ids = res!.outputs[0]!.tokenIds;
    expect(ids).toHaveLength(5);
    expect(ctx.numEnqueued).toBe(5);
    const at = (e: string): number => log.indexOf(e);
    for (let n = 1; n < 5; n++) {
      const detok = log.findIndex((e, i) => i > at(`done ${n}`) && e === `detok ${ids[n - 1]}`);
      expect(detok).toBeGreaterThan(at(`enqueue ${n + 1}`));
      expect(detok).toBeLessThan(at(`done ${n + 1}`));
    }
    // The last step has no successor: its output work runs once it completes.
    expect(log.lastIndexOf(`detok ${ids[4]}`)).toBeGreaterThan(at('done 5'));
  });

  it('gives the same outputs as the synchronous logits path: penalties, logprobs, min_tokens, stop strings, n > 1, streaming', async () => {
    const eosModel = (ctx: readonly number[]): Float32Array => { const r = model(ctx); r[EOS] = 7.9; return r; };
    const mixed: SamplingParams[] = [
      { temperature: 0, repetitionPenalty: 1.4, maxNewTokens: 12, ignoreEos: true },
      { temperature: 0.8, seed: 7, presencePenalty: 0.6, frequencyPenalty: 0.4, logprobs: 3, maxNewTokens: 10, ignoreEos: true },
      { temperature: 0, logprobs: 0, minTokens: 4, maxNewTokens: 9 },
      { temperature: 0.9, seed: 2, topK: 20, stop: ['e'], maxNewTokens: 14, ignoreEos: true },
      { temperature: 1, seed: 11, n: 2, repetitionPenalty: 0.7, maxNewTokens: 6, ignoreEos: true },
    ];
    const reqs = mixed.map((params, i) => ({ promptTokenIds: [70 + i, 71, 72, 70 + i], params }));
    const want = await generate(new FakeContext(64, 4, eosModel), reqs);
    const ctx = new AsyncFakeContext(64, 4, model);
    Object.assign(ctx, { logitsFn: eosModel });
    const got = await generate(ctx, reqs);
    expect(strip(got)).toEqual(strip(want));
    expect(ctx.numRuns).toBe(ctx.numEnqueued + 1); // only n = 2's prompt row went the logits path
    expect(ctx.rows.some((r) => r.penalties?.repetition === 1.4 && r.penalties.ids.length >= 4)).toBe(true);
    expect(ctx.rows.some((r) => r.suppress?.includes(EOS))).toBe(true);
    expect(got[1]!.outputs[0]!.logprobs![0]!.top).toHaveLength(3);
  });

  it('streams the same deltas and lets a cancel in flight end the request cleanly', async () => {
    const ctx = new AsyncFakeContext(64, 4, model);
    const ex = new Executor({ context: ctx, tokenizer: byteTokenizer, settings, kv: { numBlocks: 64, tokensPerBlock: 4 } });
    const params = { temperature: 0, maxNewTokens: 8, ignoreEos: true };
    const texts: string[] = [];
    for await (const d of ex.submit({ promptTokenIds: [72, 105], params, requestId: 'a' })) texts.push(d.text);
    const [alone] = await generate(new FakeContext(64, 4, model), [{ promptTokenIds: [72, 105], params }]);
    expect(texts.join('')).toBe(alone!.outputs[0]!.text);
    const long = ex.submit({ promptTokenIds: [1, 2, 3], params: { ...params, maxNewTokens: 200 }, requestId: 'b' });
    const seen: string[] = [];
    for await (const d of long) {
      seen.push(d.finishReason ?? '');
      if (seen.length === 3) expect(ex.cancel('b')).toBe(true);
    }
    expect(seen.at(-1)).toBe('cancelled');
    await new Promise((r) => setTimeout(r, 5));
    expect(ex.kv.stats().numUsed).toBe(0);
    ex.close();
  });
});
