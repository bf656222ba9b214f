import { describe, expect, it } from 'vitest';
import { createSamplingConfig } from '../../../src/runtime/sampling/params.js';
import { PenaltyTracker } from '../../../src/runtime/sampling/penalty-tracker.js';

const snapshot = (t: PenaltyTracker): [number, number][] => {
  const p = t.penalties();
  return [...p.ids].map((id, i) => [id, p.outCounts[i]!]);
};

describe('PenaltyTracker', () => {
  it('lists prompt tokens (count 0) only for the repetition penalty, and counts generated tokens', () => {
    const rep = new PenaltyTracker(createSamplingConfig({ repetitionPenalty: 1.2 }), [5, 9, 5, 2]);
    expect(snapshot(rep)).toEqual([[5, 0], [9, 0], [2, 0]]);
    rep.add(9);
    rep.add(7);
    rep.add(9);
    expect(snapshot(rep)).toEqual([[5, 0], [9, 2], [2, 0], [7, 1]]);
    expect(rep.penalties()).toMatchObject({ repetition: 1.2, presence: 0, frequency: 0 });

    const freq = new PenaltyTracker(createSamplingConfig({ frequencyPenalty: 0.5, presencePenalty: -0.25 }), [5, 9]);
    expect(snapshot(freq)).toEqual([]);
    for (let i = 0; i < 100; i++) freq.add(i % 70); // grows past its first 64 slots
    expect(snapshot(freq)).toHaveLength(70);
    expect(snapshot(freq).slice(0, 2)).toEqual([[0, 2], [1, 2]]);
    expect(snapshot(freq)[69]).toEqual([69, 1]);
  });

  it('is needed only when a penalty is set', () => {
    expect(PenaltyTracker.isNeeded(createSamplingConfig({}))).toBe(false);
    expect(PenaltyTracker.isNeeded(createSamplingConfig({ presencePenalty: 0.1 }))).toBe(true);
  });
});
