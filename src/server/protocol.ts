/**
 * Messages between the main thread (`WorkerEngineClient`) and the engine worker
 * (`engine-worker.ts`). Plain data only: they cross `postMessage`.
 */
import type { ExecutorStats, RequestDelta } from '../runtime/api.js';
import type { EngineRequest, ModelInfo } from './engine-client.js';
import type { WireError } from './errors.js';

/** How the worker loads its engine (its `workerData`). */
export interface EngineLoadOptions {
  readonly engineDir: string;
  /** Backend name ('cpu', 'cuda'); the runtime's default when absent. */
  readonly backend?: string;
  /** KV cache size in bytes; the runtime's default when absent. */
  readonly kvCacheBytes?: number;
  /** Name the model is served under; the engine directory's base name when absent. */
  readonly modelName?: string;
}

export type ToWorker =
  | { readonly type: 'submit'; readonly id: string; readonly request: EngineRequest }
  | { readonly type: 'cancel'; readonly id: string }
  | { readonly type: 'stats'; readonly seq: number }
  | { readonly type: 'close' };

export type FromWorker =
  | { readonly type: 'ready'; readonly modelInfo: ModelInfo }
  | { readonly type: 'load_error'; readonly error: WireError }
  | { readonly type: 'delta'; readonly id: string; readonly delta: RequestDelta }
  /** Every sample of the request has finished. */
  | { readonly type: 'end'; readonly id: string }
  | { readonly type: 'error'; readonly id: string; readonly error: WireError }
  | { readonly type: 'stats'; readonly seq: number; readonly stats: ExecutorStats | null; readonly error?: WireError }
  | { readonly type: 'closed' }
  /** The engine cannot go on (e.g. a tensor-parallel rank died): the server fails everything and answers /health 503. */
  | { readonly type: 'fatal'; readonly message: string };
