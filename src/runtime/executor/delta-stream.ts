/** A push-based AsyncIterable of deltas: the executor pushes, one consumer pulls. No polling. */
import type { RequestDelta } from '../api.js';

export class DeltaStream implements AsyncIterable<RequestDelta> {
  private readonly buffered: RequestDelta[] = [];
  private ended = false;
  private waiter: (() => void) | null = null;

  /** Called when the consumer stops early (break out of for-await). */
  constructor(private readonly onAbandon: () => void) {}

  push(delta: RequestDelta): void {
    if (this.ended) return;
    this.buffered.push(delta);
    this.signal();
  }

  end(): void {
    this.ended = true;
    this.signal();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<RequestDelta> {
    let done = false;
    try {
      for (;;) {
        const next = this.buffered.shift();
        if (next) {
          yield next;
          continue;
        }
        if (this.ended) {
          done = true;
          return;
        }
        await new Promise<void>((resolve) => (this.waiter = resolve));
      }
    } finally {
      if (!done) this.onAbandon();
    }
  }

  private signal(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
}
