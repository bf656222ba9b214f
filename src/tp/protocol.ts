/** Messages between the tensor-parallel driver (main thread) and its rank workers: plain data. */
import type { HostTensor, KvCacheSpec, StepInputs } from '../backends/types.js';
import type { TpSharedBuffers } from './shared-memory.js';

/** workerData of a rank worker (`reply` is transferred). */
export interface RankWorkerData {
  readonly engineDir: string;
  readonly rank: number;
  /** The model's KV cache shape; the rank keeps only its own KV heads (read from its graph). */
  readonly kvCache: KvCacheSpec;
  readonly shared: TpSharedBuffers;
  /** Port the rank answers steps on; the driver reads it synchronously (receiveMessageOnPort). */
  readonly reply: import('node:worker_threads').MessagePort;
}

export type ToRank =
  | { readonly type: 'step'; readonly seq: number; readonly step: StepInputs }
  /** Fault drill: the rank exits at once with `code`, as a crashed rank would. */
  | { readonly type: 'crash'; readonly code: number };

/** Posted on the worker's parentPort while loading. */
export type RankStatus =
  | { readonly type: 'ready'; readonly rank: number }
  | { readonly type: 'load_error'; readonly rank: number; readonly name: string; readonly message: string };

/** Posted on the reply port after each step (outputs from rank 0 only). */
export type RankReply =
  | { readonly type: 'done'; readonly seq: number; readonly outputs?: Record<string, HostTensor> }
  | { readonly type: 'error'; readonly seq: number; readonly name: string; readonly message: string };
