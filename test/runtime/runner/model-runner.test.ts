import { describe, expect, it } from 'vitest';
import type { RowSampling, StepInputs } from '../../../src/backends/types.js';
import { buildStepInputs, runStep, runStepSampled } from '../../../src/runtime/runner/model-runner.js';
import type { SchedulerOutput } from '../../../src/runtime/scheduler/types.js';
import { FakeContext, hashLogits } from '../fakes.js';

const out: SchedulerOutput = {
  seqs: [
    { seqId: 7, tokenIds: [50], positions: [5], blockTable: [3, 1], needsLogits: true },
    { seqId: 2, tokenIds: [10, 11, 12], positions: [0, 1, 2], blockTable: [0], needsLogits: false },
    { seqId: 4, tokenIds: [20, 21], positions: [3, 4], blockTable: [2, 5], needsLogits: true },
  ],
  blockCopies: [[1, 6]],
  preempted: [],
  tokensPerBlock: 4,
  numTokens: 6,
};

describe('model runner', () => {
  it('lays out tokens sequence after sequence with slot mapping and logits indices', () => {
    const step = buildStepInputs(out);
    expect([...step.tensors['input_ids']!.data]).toEqual([50, 10, 11, 12, 20, 21]);
    expect([...step.tensors['positions']!.data]).toEqual([5, 0, 1, 2, 3, 4]);
    expect([...step.tensors['logits_indices']!.data]).toEqual([0, 5]);
    // position 5 → block 1 of [3, 1] → slot 1·4 + 1; position 4 → block [2, 5][1] = 5 → 20.
    expect([...step.attention!.slotMapping]).toEqual([5, 0, 1, 2, 11, 20]);
    expect(step.attention!.seqs.map((s) => [s.queryStart, s.numQueryTokens, s.contextLen, [...s.blockTable]])).toEqual([
      [0, 1, 6, [3, 1]],
      [1, 3, 3, [0]],
      [4, 2, 5, [2, 5]],
    ]);
    expect(step.blockCopies).toEqual([[1, 6]]);
  });

  it('returns one logits row per sequence that needed logits, in order', () => {
    const ctx = new FakeContext(8, 4, hashLogits(16));
    // Fill the context seq 7 and seq 4 read (positions 0..4 / 0..2), as earlier steps would have.
    [9, 9, 9, 9].forEach((t, i) => (ctx.slots[3 * 4 + i] = t));
    ctx.slots[4] = 9;
    [8, 8, 8].forEach((t, i) => (ctx.slots[2 * 4 + i] = t));
    const res = runStep(ctx, out);
    expect(res.logits.map((l) => l.seqId)).toEqual([7, 4]);
    expect([...res.logits[0]!.row]).toEqual([...hashLogits(16)([9, 9, 9, 9, 9, 50])]);
    expect([...res.logits[1]!.row]).toEqual([...hashLogits(16)([8, 8, 8, 20, 21])]);
    expect(runStep(ctx, { ...out, seqs: [], numTokens: 0 }).logits).toEqual([]);
  });

  it('runStepSampled passes one RowSampling per logits row and maps the ids back to sequences', () => {
    const seen: { step: StepInputs; sampling: readonly RowSampling[] }[] = [];
    const ctx = Object.assign(new FakeContext(8, 4, hashLogits(16)), {
      sampleOnDevice: true,
      runAndSample: (step: StepInputs, sampling: readonly RowSampling[]) => {
        seen.push({ step, sampling });
        return { tokenIds: Int32Array.from([13, 3]) };
      },
    });
    const rows: RowSampling[] = [{ temperature: 0, topK: 0, topP: 1, minP: 0, uniform: 0 }, { temperature: 1, topK: 5, topP: 0.5, minP: 0, uniform: 0.25 }];
    expect(runStepSampled(ctx, out, rows).tokens).toEqual([{ seqId: 7, tokenId: 13 }, { seqId: 4, tokenId: 3 }]);
    expect([...seen[0]!.step.tensors['logits_indices']!.data]).toEqual([0, 5]);
    expect(seen[0]!.sampling).toBe(rows);
    expect(() => runStepSampled(ctx, out, rows.slice(1))).toThrow(/one RowSampling per sequence/);
    expect(() => runStepSampled(new FakeContext(8, 4, hashLogits(16)), out, rows)).toThrow(/sampleOnDevice/);
  });
});
