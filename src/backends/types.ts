/**
 * The one small interface every backend (cpu, cuda) implements. Plain data crosses it:
 * the runtime never sees device memory, the backend never sees the scheduler.
 */
import type { DType } from '../graph/types.js';

export type TypedData = Float32Array | Int32Array | Uint16Array | Uint8Array | Int8Array;

/** A tensor in host memory. `data.length` equals the product of `shape`. */
export interface HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TypedData;
}

/** How one sequence of the batch attends, for the `attention` op over the paged KV cache. */
export interface SeqAttention {
  /** Index of this sequence's first query token in the flattened batch (tokens). */
  readonly queryStart: number;
  /** Query tokens this step: a prefill chunk's length, or 1 for decode. */
  readonly numQueryTokens: number;
  /** Tokens in the cache once this step's keys are written (cached prefix + this step's tokens). */
  readonly contextLen: number;
  /** Physical block ids holding this sequence's tokens, in order. */
  readonly blockTable: Int32Array;
}

/** Per-step metadata for the attention op. Queries are causal within each sequence. */
export interface AttentionMetadata {
  readonly seqs: readonly SeqAttention[];
  /** For each token of the batch, the KV slot it writes: blockId · tokensPerBlock + offset. */
  readonly slotMapping: Int32Array;
}

/** Shape of the paged KV cache a context allocates (one K and one V pool per layer). */
export interface KvCacheSpec {
  readonly numLayers: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly numBlocks: number;
  readonly tokensPerBlock: number;
  readonly dtype: DType;
}

/** One forward step of an LLM engine: plain data built by the runtime. */
export interface StepInputs {
  /** Graph inputs by name (for LLM engines: input_ids, positions, logits_indices). */
  readonly tensors: Readonly<Record<string, HostTensor>>;
  /** Present when the graph has attention ops. */
  readonly attention?: AttentionMetadata;
  /** KV blocks to copy (src → dst) before the step, for copy-on-write of shared blocks. */
  readonly blockCopies?: readonly (readonly [number, number])[];
}

/**
 * How to pick the token of one logits row inside the backend (plain data, one per row of the
 * step's `logits_indices`). The order is the host sampler's: temperature → top-k → top-p → min-p.
 */
export interface RowSampling {
  /** 0 = greedy (argmax, lowest id on ties); otherwise logits are divided by it. */
  readonly temperature: number;
  /** Keep the k largest logits (ties with the k-th kept); 0 = off. */
  readonly topK: number;
  /** Keep the smallest most-likely set whose probability reaches topP; 1 = off. */
  readonly topP: number;
  /** Drop tokens whose probability is below minP × the top token's; 0 = off. */
  readonly minP: number;
  /**
   * The draw's uniform number in [0, 1) (unused when greedy). The runtime derives it from the
   * request's seed, sample index and step alone, so a seeded row samples the same token whatever
   * else shares its batch.
   */
  readonly uniform: number;
  /**
   * Logits processing before temperature (the host sampler's order, each optional; absent = off):
   * the row's distinct token ids with, per id, its count in the generated tokens (0 when it is only
   * in the prompt). Repetition applies to every listed id with `seen` (prompt or output: HF's
   * definition), presence/frequency to ids with a count > 0; `suppress` ids get -inf (EOS and stop
   * ids before min_tokens).
   */
  readonly penalties?: RowPenalties;
  /** Ids that may not be chosen this step (-inf before sampling). */
  readonly suppress?: readonly number[];
  /** Return logprobs of the raw logits (log-softmax before penalties/temperature): chosen + this many top ids (0..20). */
  readonly logprobs?: number;
}

/** Repetition/presence/frequency penalties of one row (see `RowSampling.penalties`). */
export interface RowPenalties {
  readonly repetition: number;
  readonly presence: number;
  readonly frequency: number;
  /** Distinct token ids seen in the prompt or the output. */
  readonly ids: Int32Array;
  /** Per id, its occurrences in the generated tokens (0 = prompt only). */
  readonly outCounts: Int32Array;
}

/** Logprobs of one sampled row, from the raw logits' log-softmax. */
export interface RowLogprobs {
  readonly logprob: number;
  /** Most likely ids first (ties: lower id), as many as asked. */
  readonly top: readonly { readonly tokenId: number; readonly logprob: number }[];
}

/** What `runAndSample` returns: one token id per logits row, in `logits_indices` order. */
export interface SampledStep {
  readonly tokenIds: Int32Array;
  /** Per row, present where that row's RowSampling asked for logprobs. */
  readonly logprobs?: readonly (RowLogprobs | undefined)[];
}

/** A step enqueued on the device; `done()` resolves once its results are in host memory (call it once). */
export interface PendingStep<T> {
  done(): Promise<T>;
}

/** A loaded engine ready to run. Owns its memory; call `dispose()` when done. */
export interface ExecutionContext {
  /** Runs the graph; returns its outputs by name, in host memory (float32 for float outputs). */
  run(step: StepInputs): Record<string, HostTensor>;
  /** True when `runAndSample` is implemented: tokens are chosen where the logits are (optional capability). */
  readonly sampleOnDevice?: boolean;
  /**
   * True when `runAndSample`/`enqueueAndSample` honour RowSampling.penalties, .suppress and
   * .logprobs; otherwise the runtime samples rows that need them on the host (logits path).
   */
  readonly sampleExtrasOnDevice?: boolean;
  /**
   * Runs the step and samples one token per logits row in the backend, so only ids come back.
   * `sampling.length` must equal the number of logits rows. Present when `sampleOnDevice` is true.
   */
  runAndSample?(step: StepInputs, sampling: readonly RowSampling[]): SampledStep;
  /**
   * `runAndSample` without blocking: enqueues the step and returns at once; the host awaits
   * `done()` (the event loop keeps running while the device works). At most one step in flight:
   * await its `done()` before the next enqueue. Optional: contexts without it are run synchronously.
   */
  enqueueAndSample?(step: StepInputs, sampling: readonly RowSampling[]): PendingStep<SampledStep>;
  /** Bytes this context holds: weights, KV pool, activation arena. */
  memoryUsage(): { weights: number; kvCache: number; activations: number; /** device bytes in use beyond the three (CUDA) */ other?: number };
  dispose(): void;
}

export interface ContextOptions {
  /** Allocate a paged KV cache of this shape (LLM engines). */
  readonly kvCache?: KvCacheSpec;
}

/** A compute backend, chosen by name from the registry (`backends/registry.ts`). */
export interface Backend {
  readonly name: string;
  /** Loads an engine for execution. Throws `BackendError` when the backend cannot run here. */
  createContext(engine: import('../engine/types.js').Engine, options?: ContextOptions): ExecutionContext;
}
