/**
 * A single-consumer async queue: the producer pushes items (or ends / fails it), the consumer
 * iterates with `for await`. Leaving the loop early calls `onReturn` (used to cancel a request).
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: ((r: IteratorResult<T>) => void) | undefined;
  private failWaiter: ((e: unknown) => void) | undefined;
  private ended = false;
  private failure: { error: unknown } | undefined;
  private consumed = false;

  constructor(private readonly onReturn?: () => void) {}

  get isClosed(): boolean {
    return this.ended || this.failure !== undefined;
  }

  push(item: T): void {
    if (this.isClosed) return;
    if (this.waiter) {
      const w = this.waiter;
      this.clearWaiters();
      w({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  end(): void {
    if (this.isClosed) return;
    this.ended = true;
    if (this.waiter) {
      const w = this.waiter;
      this.clearWaiters();
      w({ value: undefined, done: true });
    }
  }

  fail(error: unknown): void {
    if (this.isClosed) return;
    this.failure = { error };
    if (this.failWaiter) {
      const f = this.failWaiter;
      this.clearWaiters();
      f(error);
    }
  }

  private clearWaiters(): void {
    this.waiter = undefined;
    this.failWaiter = undefined;
  }

  private next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.failure) return Promise.reject(this.failure.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.consumed) throw new Error('AsyncQueue can be iterated only once');
    this.consumed = true;
    return {
      next: () => this.next(),
      return: () => {
        if (!this.isClosed) {
          this.ended = true;
          this.items.length = 0;
          this.onReturn?.();
        }
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
