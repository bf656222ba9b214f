import { describe, expect, it } from 'vitest';
import type { RowSampling, SampledStep, StepInputs } from '../../../src/backends/types.js';
import { sampleRows } from '../../../src/backends/cpu/sample.js';
import type { GenerateRequest, SamplingParams } from '../../../src/runtime/api.js';
import { Executor } from '../../../src/runtime/executor/executor.js';
import { createSamplingConfig } from '../../../src/runtime/sampling/params.js';
import { sampleToken } from '../../../src/runtime/sampling/sampler.js';
import { BYTE_VOCAB, EOS, FakeContext, byteTokenizer, hashLogits } from '../fakes.js';

const model = hashLogits(BYTE_VOCAB);

/** FakeContext that also samples "on the device" with the CPU backend's sampleRows; counts both paths. */
class SamplingFakeContext extends FakeContext {
  readonly sampleOnDevice = true;
  numSampledSteps = 0;
  sampledRows: RowSampling[] = [];
  runAndSample(step: StepInputs, sampling: readonly RowSampling[]): SampledStep {
    this.numRuns--; // counted as a sampled step, not a logits step
    const logits = this.run(step)['logits']!;
    this.numSampledSteps++;
    this.sampledRows.push(...sampling);
    return { tokenIds: sampleRows(logits.data as Float32Array, logits.shape[1] ?? 0, sampling) };
  }
}

function executorOn(context: FakeContext, settings: { maxNumTokens?: number; maxBatchSize?: number } = {}): Executor {
  const s = { maxBatchSize: 8, maxNumTokens: 64, maxInputLen: 256, maxOutputLen: 256, ...settings };
  return new Executor({ context, tokenizer: byteTokenizer, settings: s, kv: { numBlocks: 64, tokensPerBlock: 4 } });
}

async function tokensOf(context: FakeContext, requests: GenerateRequest[], settings?: { maxNumTokens?: number; maxBatchSize?: number }): Promise<number[][]> {
  const ex = executorOn(context, settings);
  const res = await ex.generate(requests);
  ex.close();
  return res.map((r) => [...r.outputs[0]!.tokenIds]);
}

/** Sampling token by token from the model with the host sampler, no cache, no batching. */
function reference(prompt: number[], params: SamplingParams): number[] {
  const cfg = createSamplingConfig(params);
  const out: number[] = [];
  while (out.length < cfg.maxNewTokens) {
    const suppress = out.length < cfg.minTokens ? new Set([EOS]) : new Set<number>();
    const t = sampleToken(model([...prompt, ...out]), cfg, { promptTokens: prompt, outputTokens: out, seed: cfg.seed ?? 0, index: 0, suppress }).tokenId;
    out.push(t);
    if (t === EOS && !cfg.ignoreEos) break;
  }
  return out;
}

const prompts = [[1, 2, 3], [40, 41, 42, 43, 44, 45, 46], [7], [200, 100, 50, 25, 12]];

describe('device sampling in the executor', () => {
  it('greedy: the device path gives the logits path tokens, every step sampled in the context', async () => {
    const params = { temperature: 0, maxNewTokens: 10, ignoreEos: true };
    const reqs = prompts.map((p) => ({ promptTokenIds: p, params }));
    const host = await tokensOf(new FakeContext(64, 4, model), reqs);
    const dev = new SamplingFakeContext(64, 4, model);
    expect(await tokensOf(dev, reqs)).toEqual(host);
    expect(host.map((t, i) => t.length === 10 && t.join() === reference(prompts[i]!, params).join())).toEqual([true, true, true, true]);
    expect(dev.numRuns).toBe(0);
    expect(dev.numSampledSteps).toBeGreaterThan(9);
  });

  it('seeded: same tokens as the host sampler, whatever shares the batch', async () => {
    const params: SamplingParams = { temperature: 0.8, topK: 40, topP: 0.9, minP: 0.05, seed: 99, maxNewTokens: 12, ignoreEos: true };
    const prompt = [5, 6, 7, 8, 9];
    const expected = reference(prompt, params);
    expect(await tokensOf(new SamplingFakeContext(64, 4, model), [{ promptTokenIds: prompt, params }])).toEqual([expected]);
    const companions = Array.from({ length: 5 }, (_, i) => ({ promptTokenIds: [i + 1, i + 2], params: { temperature: 1, seed: i, maxNewTokens: 15, ignoreEos: true } }));
    const dev = new SamplingFakeContext(64, 4, model);
    const busy = await tokensOf(dev, [...companions.slice(0, 2), { promptTokenIds: prompt, params }, ...companions.slice(2)], { maxNumTokens: 9, maxBatchSize: 4 });
    expect(busy[2]).toEqual(expected);
    expect(dev.numRuns).toBe(0);
    expect(dev.sampledRows.some((r) => r.temperature === 0.8 && r.topK === 40 && r.topP === 0.9 && r.minP === 0.05 && r.uniform > 0)).toBe(true);
    expect(reference(prompt, { ...params, seed: 100 })).not.toEqual(expected);
  });

  it.each<[string, SamplingParams]>([
    ['repetition penalty', { repetitionPenalty: 1.3 }],
    ['presence penalty', { presencePenalty: 0.5 }],
    ['logprobs', { logprobs: 2 }],
  ])('falls back to the logits path for every step that has a request with %s', async (_, extra) => {
    const special: SamplingParams = { temperature: 0.7, seed: 3, maxNewTokens: 6, ignoreEos: true, ...extra };
    const plain: SamplingParams = { temperature: 0, maxNewTokens: 6, ignoreEos: true };
    const dev = new SamplingFakeContext(64, 4, model);
    const got = await tokensOf(dev, [{ promptTokenIds: [9, 8, 7], params: special }, { promptTokenIds: [1, 2], params: plain }]);
    expect(got).toEqual([reference([9, 8, 7], special), reference([1, 2], plain)]);
    expect(dev.numSampledSteps).toBe(0);
    expect(dev.numRuns).toBe(6);
  });

  it('falls back while minTokens masks EOS, then samples on the device', async () => {
    const params: SamplingParams = { temperature: 0, minTokens: 3, maxNewTokens: 8, ignoreEos: false };
    // A model that always prefers EOS: min_tokens must hold it back for 3 tokens.
    const eosModel = (ctx: readonly number[]): Float32Array => { const r = model(ctx); r[EOS] = 100; return r; };
    const dev = new SamplingFakeContext(64, 4, eosModel);
    const got = await tokensOf(dev, [{ promptTokenIds: [3, 4], params }]);
    expect(got[0]).toHaveLength(4);
    expect(got[0]![3]).toBe(EOS);
    expect(got[0]!.slice(0, 3)).not.toContain(EOS);
    expect(dev.numRuns).toBe(3);
    expect(dev.numSampledSteps).toBe(1);
  });

  it('beam search and n > 1 before the fork use logits; forked samples then sample on the device', async () => {
    const beam = new SamplingFakeContext(64, 4, model);
    await tokensOf(beam, [{ promptTokenIds: [1, 2, 3], params: { beamWidth: 2, maxNewTokens: 4, ignoreEos: true } }]);
    expect(beam.numSampledSteps).toBe(0);
    const nParams: SamplingParams = { temperature: 0.9, seed: 5, n: 3, maxNewTokens: 5, ignoreEos: true };
    const dev = new SamplingFakeContext(64, 4, model);
    const ex = executorOn(dev);
    const [res] = await ex.generate([{ promptTokenIds: [10, 11, 12], params: nParams }]);
    ex.close();
    const host = executorOn(new FakeContext(64, 4, model));
    const [want] = await host.generate([{ promptTokenIds: [10, 11, 12], params: nParams }]);
    host.close();
    expect(res!.outputs.map((o) => o.tokenIds)).toEqual(want!.outputs.map((o) => o.tokenIds));
    expect(dev.numRuns).toBe(1);
    expect(dev.numSampledSteps).toBe(4);
  });
});
