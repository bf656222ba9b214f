/**
 * `WorkerEngineClient`: the main-thread side of the engine worker. A crashed or failed worker
 * fails every in-flight request with `EngineUnavailableError` and sets `failure` (the server's
 * /health then answers 503 with it) — nothing waits forever.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ExecutorStats, RequestDelta } from '../runtime/api.js';
import { AsyncQueue } from './async-queue.js';
import type { EngineClient, EngineRequest, ModelInfo } from './engine-client.js';
import { EngineUnavailableError, fromWireError } from './errors.js';
import { EngineLoadError } from '../errors/index.js';
import type { EngineLoadOptions, FromWorker, ToWorker } from './protocol.js';

const STATS_TIMEOUT_MS = 10_000;

/**
 * Starts the worker from compiled JS next to this module (dist/), or, when running from the
 * TypeScript sources (vitest, tsx), from engine-worker.ts through tsx's loader.
 */
function startWorker(options: EngineLoadOptions, workerFile?: string): Worker {
  const here = fileURLToPath(import.meta.url);
  const js = workerFile ?? fileURLToPath(new URL('./engine-worker.js', import.meta.url));
  if (!js.endsWith('.ts') && existsSync(js)) return new Worker(js, { workerData: options });
  if (!workerFile && !here.endsWith('worker-client.ts')) {
    // Bundled (one .mjs): the worker script must have been bundled beside it.
    throw new EngineLoadError(`the engine worker script ${js} is missing; bundle src/server/engine-worker.ts to that path (scripts/cuda/bundle-model-check.sh does) or serve with the engine in process`);
  }
  const tsUrl = pathToFileURL(workerFile ?? here.replace(/worker-client\.ts$/, 'engine-worker.ts')).href;
  // tsx's ESM api (index.mjs next to the require-condition index.cjs) registers its loader.
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const bootstrap =
    `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(tsUrl)}); })` +
    '.catch((e) => { setImmediate(() => { throw e; }); });';
  return new Worker(bootstrap, { eval: true, workerData: options });
}

export class WorkerEngineClient implements EngineClient {
  readonly ready: Promise<ModelInfo>;
  modelInfo: ModelInfo | null = null;
  failure: string | null = null;
  private readonly worker: Worker;
  private readonly active = new Map<string, AsyncQueue<RequestDelta>>();
  private readonly pendingStats = new Map<number, { resolve: (s: ExecutorStats) => void; reject: (e: unknown) => void }>();
  private nextSeq = 0;
  private closing = false;
  private resolveReady!: (info: ModelInfo) => void;
  private rejectReady!: (err: unknown) => void;
  private resolveClosed: (() => void) | undefined;

  /** `workerFile` replaces engine-worker (a .js or .ts file speaking protocol.ts; tests use a fake). */
  constructor(options: EngineLoadOptions, workerFile?: string) {
    this.ready = new Promise<ModelInfo>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    this.worker = startWorker(options, workerFile);
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (err) => this.die(`The engine worker crashed: ${err.message}`));
    this.worker.on('exit', (code) => {
      if (!this.closing) this.die(`The engine worker exited unexpectedly (code ${code}).`);
      this.resolveClosed?.();
    });
  }

  private onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'ready':
        this.modelInfo = m.modelInfo;
        this.resolveReady(m.modelInfo);
        break;
      case 'load_error':
        this.die(`The engine failed to load: ${m.error.message}`, fromWireError(m.error));
        break;
      case 'delta': this.active.get(m.id)?.push(m.delta); break;
      case 'end': this.finish(m.id)?.end(); break;
      case 'error': this.finish(m.id)?.fail(fromWireError(m.error)); break;
      case 'stats': this.onStats(m); break;
      case 'closed': void this.worker.terminate(); break;
      case 'fatal': this.die(`The engine is down: ${m.message}.`); break;
    }
  }

  private onStats(m: Extract<FromWorker, { type: 'stats' }>): void {
    const pending = this.pendingStats.get(m.seq);
    this.pendingStats.delete(m.seq);
    if (!pending) return;
    if (m.stats) pending.resolve(m.stats);
    else pending.reject(fromWireError(m.error ?? { code: 'internal_error', message: 'stats failed', param: null }));
  }

  private finish(id: string): AsyncQueue<RequestDelta> | undefined {
    const queue = this.active.get(id);
    this.active.delete(id);
    return queue;
  }

  /** Fails everything in flight and marks the engine gone. */
  private die(reason: string, loadError?: unknown): void {
    if (this.failure === null) this.failure = reason;
    this.rejectReady(loadError ?? new EngineUnavailableError(reason));
    const error = new EngineUnavailableError(`${reason} The request was not completed; restart the server.`);
    for (const queue of this.active.values()) queue.fail(error);
    this.active.clear();
    for (const pending of this.pendingStats.values()) pending.reject(error);
    this.pendingStats.clear();
    if (!this.closing) void this.worker.terminate();
  }

  private send(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  submit(request: EngineRequest): AsyncIterable<RequestDelta> {
    if (this.failure !== null) throw new EngineUnavailableError(this.failure);
    if (this.closing) throw new EngineUnavailableError('The engine is shutting down.');
    const id = request.requestId;
    const queue = new AsyncQueue<RequestDelta>(() => this.cancel(id));
    this.active.set(id, queue);
    this.send({ type: 'submit', id, request });
    return queue;
  }

  cancel(requestId: string): void {
    if (this.failure === null && !this.closing) this.send({ type: 'cancel', id: requestId });
  }

  stats(): Promise<ExecutorStats> {
    if (this.failure !== null) return Promise.reject(new EngineUnavailableError(this.failure));
    const seq = this.nextSeq++;
    return new Promise<ExecutorStats>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingStats.delete(seq);
        reject(new EngineUnavailableError(`The engine worker did not answer a stats query within ${STATS_TIMEOUT_MS} ms.`));
      }, STATS_TIMEOUT_MS);
      const settle = <A>(fn: (a: A) => void) => (a: A) => { clearTimeout(timer); fn(a); };
      this.pendingStats.set(seq, { resolve: settle(resolve), reject: settle(reject) });
      this.send({ type: 'stats', seq });
    });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => (this.resolveClosed = resolve));
    const error = new EngineUnavailableError('The engine was shut down before the request finished.');
    for (const queue of this.active.values()) queue.fail(error);
    this.active.clear();
    if (this.failure !== null) {
      await this.worker.terminate();
      return;
    }
    this.send({ type: 'close' });
    const timer = setTimeout(() => void this.worker.terminate(), 5_000);
    await closed;
    clearTimeout(timer);
  }
}
