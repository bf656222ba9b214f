/**
 * The public face of the runtime: what `Executor` / `LLM` offer and what the server uses.
 * Everything here is plain data so it can cross a worker-thread boundary.
 */

export interface SamplingParams {
  /** Upper bound on generated tokens (default 16). */
  readonly maxNewTokens?: number;
  /** Generated tokens before EOS/stop may end the request (default 0). */
  readonly minTokens?: number;
  /** 0 means greedy (default 1). */
  readonly temperature?: number;
  /** 0 or absent: disabled. */
  readonly topK?: number;
  /** 1 or absent: disabled. */
  readonly topP?: number;
  /** 0 or absent: disabled. */
  readonly minP?: number;
  /** HF-style multiplicative penalty on tokens seen in prompt or output (1 = off). */
  readonly repetitionPenalty?: number;
  /** OpenAI-style additive penalties on generated tokens (0 = off). */
  readonly presencePenalty?: number;
  readonly frequencyPenalty?: number;
  /** Per-request seed: same seed, same output, whatever else is in the batch. */
  readonly seed?: number;
  readonly stopTokenIds?: readonly number[];
  /** Stop strings; the matched text is not emitted. */
  readonly stop?: readonly string[];
  readonly ignoreEos?: boolean;
  /** Return the chosen token's logprob and this many top alternatives (0 = chosen only). */
  readonly logprobs?: number;
  /** Also return logprobs of the prompt tokens. */
  readonly promptLogprobs?: number;
  /** Independent samples of the same prompt, sharing its KV blocks (default 1). */
  readonly n?: number;
  /** Beam search when > 1. */
  readonly beamWidth?: number;
  readonly lengthPenalty?: number;
  readonly earlyStopping?: boolean;
}

export type FinishReason = 'stop' | 'length' | 'cancelled' | 'error';

export interface TokenLogprob {
  readonly tokenId: number;
  readonly logprob: number;
  /** Top alternatives, most likely first. */
  readonly top: readonly { readonly tokenId: number; readonly logprob: number }[];
}

/** One streamed increment of one sample (`index` < n, or beam rank). */
export interface RequestDelta {
  readonly requestId: string;
  readonly index: number;
  /** Token ids generated since the last delta of this sample. */
  readonly tokenIds: readonly number[];
  /** Text generated since the last delta; never splits a multi-byte character. */
  readonly text: string;
  readonly logprobs?: readonly TokenLogprob[];
  /** Set on the last delta of this sample. */
  readonly finishReason?: FinishReason;
  /** Set with `finishReason: 'error'`. */
  readonly error?: string;
}

export interface CompletionOutput {
  readonly index: number;
  readonly tokenIds: readonly number[];
  readonly text: string;
  readonly finishReason: FinishReason;
  readonly logprobs?: readonly TokenLogprob[];
  /** Beam search: cumulative logprob (length-penalised score in `score`). */
  readonly cumulativeLogprob?: number;
  readonly score?: number;
}

export interface RequestResult {
  readonly requestId: string;
  readonly prompt: string | null;
  readonly promptTokenIds: readonly number[];
  readonly outputs: readonly CompletionOutput[];
  /** Milliseconds from submission to the first generated token. */
  readonly ttftMs: number;
  readonly latencyMs: number;
}

export interface GenerateRequest {
  /** Unique; generated when absent. */
  readonly requestId?: string;
  /** Text prompt (tokenized with the engine's tokenizer) or token ids. */
  readonly prompt?: string;
  readonly promptTokenIds?: readonly number[];
  readonly params?: SamplingParams;
}

export interface ExecutorStats {
  readonly numWaiting: number;
  readonly numRunning: number;
  readonly numPreemptions: number;
  readonly kv: {
    readonly numBlocks: number;
    readonly numUsed: number;
    readonly numFree: number;
    readonly numCached: number;
    readonly tokensPerBlock: number;
    /** Prefix-cache hits ÷ lookups, over the executor's life (0 when none). */
    readonly prefixHitRate: number;
    /** Allocated token slots not holding a token ÷ allocated slots (0 when none). */
    readonly fragmentation: number;
  };
  readonly numSteps: number;
  readonly numPromptTokens: number;
  readonly numGeneratedTokens: number;
  /**
   * Speculative scheduling (async steps): steps enqueued as prepared while the previous one ran
   * (hits), and speculations undone (misses: a sequence ended otherwise than predicted, or a
   * submit/cancel came in while the step ran). Absent where the executor does not speculate.
   */
  readonly speculation?: { readonly numHits: number; readonly numMisses: number };
}
