import { describe, expect, it } from 'vitest';
import { watchLoopDelay } from '../../src/bench/loop-delay.js';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('watchLoopDelay', () => {
  it('sees a 40 ms synchronous block as a delay of at least ~40 ms', async () => {
    const w = watchLoopDelay();
    await tick(20);
    const until = performance.now() + 40;
    while (performance.now() < until) { /* block the event loop */ }
    await tick(20);
    const d = w.stop();
    expect(d.samples).toBeGreaterThan(0);
    expect(d.max).toBeGreaterThanOrEqual(35);
    expect(d.p50).toBeLessThanOrEqual(d.p99);
    expect(d.p99).toBeLessThanOrEqual(d.max);
  });
  it('reports NaN, not zeros, when nothing was sampled', () => {
    const d = watchLoopDelay().stop();
    expect(d.samples).toBe(0);
    expect(d.max).toBeNaN();
  });
});
