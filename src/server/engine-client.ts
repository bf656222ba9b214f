/**
 * The server's view of the engine: `EngineClient`. Two implementations with one interface:
 * `InProcessEngineClient` (wraps an `EngineCore` in this thread; tests, embedding) and
 * `WorkerEngineClient` (the engine core runs in a worker thread, see engine-worker.ts, so
 * HTTP stays responsive while steps run; the sides exchange plain messages, see protocol.ts).
 */
import type { ExecutorStats, GenerateRequest, RequestDelta } from '../runtime/api.js';
import { AsyncQueue } from './async-queue.js';
import { EngineUnavailableError } from './errors.js';

/** What the server needs to know of the loaded model. Lengths are in tokens. */
export interface ModelInfo {
  readonly name: string;
  /** Longest prompt the engine accepts. */
  readonly maxInputLen: number;
  /** Most tokens one request may generate. */
  readonly maxOutputLen: number;
  readonly vocabSize: number;
  readonly hasChatTemplate: boolean;
}

/** A request as the server submits it: always with an id, prompt already tokenized or text. */
export type EngineRequest = GenerateRequest & { readonly requestId: string };

/**
 * What runs requests: the runtime's `LLM` satisfies it. `submit` yields the deltas of every
 * sample of the request and ends when all of them have finished; it throws `RequestError`
 * for a request it cannot serve. `cancel` of an unknown or finished id is a no-op.
 */
export interface EngineCore {
  submit(request: EngineRequest): AsyncIterable<RequestDelta>;
  cancel(requestId: string): void;
  stats(): ExecutorStats;
}

export interface EngineClient {
  /** Resolves once the engine is loaded; rejects when loading fails. */
  readonly ready: Promise<ModelInfo>;
  /** The loaded model, or null before `ready` resolves. */
  readonly modelInfo: ModelInfo | null;
  /** Null while healthy; why the engine is gone once it crashed or failed to load. */
  readonly failure: string | null;
  /**
   * Runs a request. The iterable throws `RequestError` (bad request) or another `KilnError`
   * (engine fault, `EngineUnavailableError` when the engine died); leaving it early cancels.
   */
  submit(request: EngineRequest): AsyncIterable<RequestDelta>;
  /** Cancels a request; its samples end with finishReason 'cancelled' and its KV blocks are freed. */
  cancel(requestId: string): void;
  stats(): Promise<ExecutorStats>;
  /** Stops the engine; in-flight requests fail. */
  close(): Promise<void>;
}

/** Runs an `EngineCore` in this thread. */
export class InProcessEngineClient implements EngineClient {
  readonly ready: Promise<ModelInfo>;
  modelInfo: ModelInfo | null = null;
  failure: string | null = null;
  private readonly active = new Map<string, AsyncQueue<RequestDelta>>();
  private closed = false;

  constructor(
    private readonly core: EngineCore,
    info: ModelInfo | Promise<ModelInfo>,
    private readonly onClose?: () => void | Promise<void>,
  ) {
    this.ready = Promise.resolve(info).then(
      (i) => (this.modelInfo = i),
      (err: unknown) => {
        this.failure = `The engine failed to load: ${err instanceof Error ? err.message : String(err)}`;
        throw err;
      },
    );
    this.ready.catch(() => undefined);
  }

  submit(request: EngineRequest): AsyncIterable<RequestDelta> {
    if (this.closed) throw new EngineUnavailableError('The engine is closed.');
    const id = request.requestId;
    const queue = new AsyncQueue<RequestDelta>(() => this.cancel(id));
    this.active.set(id, queue);
    void this.pump(request, queue);
    return queue;
  }

  private async pump(request: EngineRequest, queue: AsyncQueue<RequestDelta>): Promise<void> {
    try {
      for await (const delta of this.core.submit(request)) queue.push(delta);
      queue.end();
    } catch (err) {
      queue.fail(err);
    } finally {
      this.active.delete(request.requestId);
    }
  }

  cancel(requestId: string): void {
    if (this.active.has(requestId)) this.core.cancel(requestId);
  }

  stats(): Promise<ExecutorStats> {
    return Promise.resolve(this.core.stats());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, queue] of this.active) {
      this.core.cancel(id);
      queue.fail(new EngineUnavailableError('The engine was shut down before the request finished.'));
    }
    this.active.clear();
    await this.onClose?.();
  }
}
