/**
 * Admission control: how many engine requests the server has admitted (waiting + running),
 * refusal when that would exceed `maxQueue` (429) or while draining (503), and the drain itself.
 */
import { ApiError } from './errors.js';

/** Seconds a client is told to wait after a 429. */
export const RETRY_AFTER_S = 1;

export class AdmissionManager {
  private numAdmitted = 0;
  private draining = false;
  private readonly cancels = new Map<number, () => void>();
  private nextTicket = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly maxQueue: number) {}

  get isDraining(): boolean {
    return this.draining;
  }

  get numInFlight(): number {
    return this.numAdmitted;
  }

  /**
   * Admits `count` engine requests or throws (503 draining, 429 full). Returns the release
   * function (idempotent); `cancel` is called if the drain times out before release.
   */
  admit(count: number, cancel: () => void): () => void {
    if (this.draining) {
      throw new ApiError(503, 'The server is shutting down and accepts no new requests; retry on another instance.', { code: 'draining' });
    }
    if (this.numAdmitted + count > this.maxQueue) {
      throw new ApiError(429,
        `The server is at capacity (${this.numAdmitted} of ${this.maxQueue} requests admitted); retry after ${RETRY_AFTER_S} s.`,
        { headers: { 'retry-after': String(RETRY_AFTER_S) } });
    }
    this.numAdmitted += count;
    const ticket = this.nextTicket++;
    this.cancels.set(ticket, cancel);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.numAdmitted -= count;
      this.cancels.delete(ticket);
      if (this.numAdmitted === 0) this.wakeIdle();
    };
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Stops admitting, waits for in-flight requests up to `timeoutMs`, then cancels the rest.
   * Resolves true when everything finished on its own.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    if (this.numAdmitted === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const finished = await Promise.race([idle, timeout]);
    clearTimeout(timer);
    if (!finished) {
      for (const cancel of [...this.cancels.values()]) cancel();
      if (this.numAdmitted > 0) {
        await Promise.race([
          new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
          new Promise<void>((resolve) => setTimeout(resolve, 2_000).unref()),
        ]);
      }
    }
    return finished;
  }
}
