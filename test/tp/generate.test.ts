/**
 * Sharded engines give the same greedy tokens as the unsharded one, through LLM.generate.
 *
 * Numerics: row-parallel matmuls sum partial products per rank and then across ranks, a
 * different float32 summation order than tp=1, so logits move by ~1e-6 (measured in
 * logits.test.ts, bounded there by 2e-5); the smallest HF top-1/top-2 margin over these greedy
 * steps is 3.4e-4, so no greedy token can flip.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckpointDType } from '../../src/checkpoint/convert.js';
import { LLM } from '../../src/runtime/llm.js';
import type { VocabParallelMode } from '../../src/tp/plan.js';
import { loadReference } from '../models/reference.js';
import { prepareFixture, type FixtureBuild } from './helpers.js';

interface Case {
  readonly fixture: string;
  readonly dtype: CheckpointDType;
  readonly tpSizes: readonly number[];
  readonly vocab: VocabParallelMode;
  readonly why: string;
}

const CASES: readonly Case[] = [
  { fixture: 'llama3-gqa', dtype: 'float32', tpSizes: [2, 4], vocab: 'auto', why: '4 q / 2 kv heads: tp=2 splits kv heads, tp=4 replicates them' },
  { fixture: 'qwen2-bias-tied-bf16', dtype: 'bfloat16', tpSizes: [2], vocab: 'split', why: 'q/k/v biases sharded, tied embedding split by vocabulary' },
  { fixture: 'llama-bias-linear-f16', dtype: 'float16', tpSizes: [4], vocab: 'split', why: 'o_proj bias added once after the all_reduce; f16 storage' },
  { fixture: 'mistral-mqa', dtype: 'float32', tpSizes: [2], vocab: 'auto', why: 'one kv head, replicated on both ranks' },
];

const MAX_NEW = 12;

async function greedyTokens(engineDir: string, prompts: readonly (readonly number[])[]): Promise<number[][]> {
  const llm = new LLM({ engineDir, kvCacheBytes: 4 << 20 });
  try {
    const results = await llm.generate(prompts.map((ids) => ({ promptTokenIds: ids })), { temperature: 0, maxNewTokens: MAX_NEW, ignoreEos: true });
    return results.map((r) => [...r.outputs[0]!.tokenIds]);
  } finally {
    llm.dispose();
  }
}

describe.each(CASES)('tp greedy tokens on $fixture ($why)', (c) => {
  let fx: FixtureBuild;
  beforeAll(async () => { fx = await prepareFixture(c.fixture, c.dtype); });
  afterAll(() => fx?.cleanup());

  it(`tp ∈ {1, ${c.tpSizes.join(', ')}} generate identical tokens for every HF prompt`, async () => {
    const ref = loadReference(c.fixture);
    const prompts = ref.prompts.map((p) => p.inputIds);
    const base = await greedyTokens(await fx.engine(1), prompts);
    base.forEach((t) => expect(t).toHaveLength(MAX_NEW));
    // tp=1 follows HF's greedy path (the margins are wide enough here; hf-reference.test.ts covers near-ties).
    base.forEach((t, i) => expect(t.slice(0, 8)).toEqual(ref.prompts[i]!.greedyIds.slice(0, 8)));
    for (const tp of c.tpSizes) {
      expect(await greedyTokens(await fx.engine(tp, c.vocab), prompts), `tp=${tp}`).toEqual(base);
    }
  }, 30_000);
});
