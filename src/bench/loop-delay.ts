/**
 * Event-loop delay while a benchmark runs (node:perf_hooks monitorEventLoopDelay): the interval
 * between ticks of a 1 ms timer, as Node records it — 1.00 ms when the loop is free, more by however
 * long something blocked it. An engine that blocks the loop (a synchronous GPU wait, a long host
 * step) shows it here even when tokens/s look fine; the server's other requests wait that long.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface LoopDelaySummary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
  /** Samples the histogram took (≈ run length in ms when the loop is free). */
  readonly samples: number;
}

/** Starts sampling; `stop()` returns the summary in milliseconds. */
export function watchLoopDelay(): { stop(): LoopDelaySummary } {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  return {
    stop(): LoopDelaySummary {
      h.disable();
      const ms = (ns: number): number => (Number.isFinite(ns) ? ns / 1e6 : Number.NaN);
      const samples = h.count;
      const out = samples === 0
        ? { p50: Number.NaN, p99: Number.NaN, max: Number.NaN, mean: Number.NaN, samples }
        : { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean), samples };
      h.reset();
      return out;
    },
  };
}
