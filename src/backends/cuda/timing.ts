/** Device timing with events: warm-up, then the median of per-launch event pairs. */
import type { CudaDevice, Stream } from './device.js';

export interface TimingOptions {
  readonly warmup?: number;
  readonly iters?: number;
}

/** Median milliseconds of `fn` (which enqueues work on `stream`), timed with CUDA events. */
export function timeOnDevice(device: CudaDevice, stream: Stream, fn: () => void, opts: TimingOptions = {}): number {
  const warmup = opts.warmup ?? 3;
  const iters = opts.iters ?? 20;
  for (let i = 0; i < warmup; i++) fn();
  const starts = Array.from({ length: iters }, () => device.createEvent());
  const ends = Array.from({ length: iters }, () => device.createEvent());
  try {
    for (let i = 0; i < iters; i++) {
      starts[i]!.record(stream);
      fn();
      ends[i]!.record(stream);
    }
    stream.synchronize();
    return median(ends.map((e, i) => e.elapsedSince(starts[i]!)));
  } finally {
    for (const e of [...starts, ...ends]) e.dispose();
  }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
