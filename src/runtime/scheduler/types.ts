/**
 * The plain data the scheduler and the model runner exchange. Nothing here holds a reference to
 * scheduler state, so a step can be shipped to a worker thread or another process as is.
 */

/** One sequence's work in a step: a prefill chunk, or one decode token. */
export interface ScheduledSeq {
  readonly seqId: number;
  /** Token ids to compute this step. */
  readonly tokenIds: readonly number[];
  /** Their positions (the first is the number of tokens already in the KV cache). */
  readonly positions: readonly number[];
  /** Physical blocks holding the sequence's tokens, including those written this step. */
  readonly blockTable: readonly number[];
  /** True when this step reaches the sequence's last token (last prefill chunk or decode). */
  readonly needsLogits: boolean;
}

export interface SchedulerOutput {
  readonly seqs: readonly ScheduledSeq[];
  /** KV block copies (src → dst) to do before the step: copy-on-write of shared partial blocks. */
  readonly blockCopies: readonly (readonly [number, number])[];
  /** Sequences preempted while forming this step (their blocks are already freed). */
  readonly preempted: readonly number[];
  readonly tokensPerBlock: number;
  /** Sum of `tokenIds.length` over `seqs`. */
  readonly numTokens: number;
}

/** What one step produced: a logits row for every scheduled sequence with `needsLogits`. */
export interface RunnerOutput {
  readonly logits: readonly { readonly seqId: number; readonly row: Float32Array }[];
}
