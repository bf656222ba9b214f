import { describe, expect, it } from 'vitest';
import { graphMode, waitForEvent } from '../../../src/backends/cuda/async-step.js';

describe('waitForEvent', () => {
  it('resolves once the event is complete, letting timers run meanwhile', async () => {
    let polls = 0;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    let counted = 0;
    await waitForEvent({ query: () => ++polls > 1 && performance.now() - t0 > 8 }, (n) => (counted = n));
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
    expect(counted).toBe(polls);
    expect(polls).toBeGreaterThan(2);
  });

  it('rejects with the query error, and backs off to timers after spinMs', async () => {
    await expect(waitForEvent({ query: () => { throw new Error('cuEventQuery failed: CUDA_ERROR_LAUNCH_FAILED'); } })).rejects.toThrow(/LAUNCH_FAILED/);
    let polls = 0;
    const t0 = performance.now();
    await waitForEvent({ query: () => (polls++, performance.now() - t0 > 30) }, undefined, 0);
    expect(polls).toBeLessThan(40); // 1 ms timers, not a spin of thousands of turns
  });
});

describe('graphMode', () => {
  it('maps the option and KILN_CUDA_GRAPHS', () => {
    expect(graphMode(undefined, undefined)).toBe('load');
    expect(graphMode(true, undefined)).toBe('load');
    expect(graphMode('lazy', undefined)).toBe('lazy');
    expect(graphMode(false, undefined)).toBe(false);
    expect(graphMode('load', '0')).toBe(false);
    expect(graphMode(false, 'lazy')).toBe('lazy');
  });
});
