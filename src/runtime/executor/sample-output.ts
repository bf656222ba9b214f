/**
 * The output of one sample (n > 1 gives several): its generated tokens, incremental
 * detokenization, stop-string hold-back and finish conditions. It turns each new token into the
 * delta to stream; the concatenation of the deltas' text is the final text.
 */
import type { IncrementalDetokenizer } from '../../tokenizer/types.js';
import type { CompletionOutput, FinishReason, RequestDelta, TokenLogprob } from '../api.js';
import type { SamplingConfig } from '../sampling/params.js';
import { PenaltyTracker } from '../sampling/penalty-tracker.js';
import { StopStringMatcher } from '../sampling/stop-strings.js';

export class SampleOutput {
  readonly tokens: number[] = [];
  readonly logprobs: TokenLogprob[] = [];
  text = '';
  finishReason: FinishReason | null = null;
  private readonly stop: StopStringMatcher;
  /** Seen tokens and output counts, for backends that apply penalties (only when the config has any). */
  readonly penalties: PenaltyTracker | undefined;

  constructor(
    readonly requestId: string,
    readonly index: number,
    /** The scheduler sequence generating this sample. */
    public seqId: number,
    private readonly cfg: SamplingConfig,
    private readonly endTokens: ReadonlySet<number>,
    private readonly detok: IncrementalDetokenizer,
    promptTokens: readonly number[] = [],
  ) {
    this.stop = new StopStringMatcher(cfg.stop);
    this.penalties = PenaltyTracker.isNeeded(cfg) ? new PenaltyTracker(cfg, promptTokens) : undefined;
  }

  /** Tokens that may not be sampled yet (EOS and stop ids before minTokens). */
  suppressed(): ReadonlySet<number> {
    return this.tokens.length < this.cfg.minTokens ? this.endTokens : NONE;
  }

  /** Records a sampled token; returns its delta (with finishReason when the sample ended). */
  append(tokenId: number, logprob: TokenLogprob | undefined): RequestDelta {
    this.tokens.push(tokenId);
    this.penalties?.add(tokenId);
    if (logprob) this.logprobs.push(logprob);
    let text = '';
    let reason: FinishReason | null = null;
    if (this.endTokens.has(tokenId)) {
      reason = 'stop';
    } else {
      const r = this.stop.push(this.detok.push([tokenId]));
      text = r.text;
      if (r.stopped) reason = 'stop';
    }
    if (reason === null && this.tokens.length >= this.cfg.maxNewTokens) reason = 'length';
    if (reason !== null) text += this.closeText(reason === 'stop' && !this.endTokens.has(tokenId));
    this.text += text;
    this.finishReason = reason;
    const delta: RequestDelta = { requestId: this.requestId, index: this.index, tokenIds: [tokenId], text };
    return {
      ...delta,
      ...(logprob ? { logprobs: [logprob] } : {}),
      ...(reason ? { finishReason: reason } : {}),
    };
  }

  /**
   * Records a sampled token and decides now whether the sample ended (what the scheduler needs);
   * the detokenization and the delta come from the returned function, which the caller may run
   * later (while the GPU runs the next step), once and in token order, before any `abort`. With
   * stop strings, whose match needs the text, everything happens now.
   */
  appendDeferred(tokenId: number, logprob: TokenLogprob | undefined): () => RequestDelta {
    if (this.cfg.stop.length > 0) {
      const delta = this.append(tokenId, logprob);
      return () => delta;
    }
    this.tokens.push(tokenId);
    this.penalties?.add(tokenId);
    if (logprob) this.logprobs.push(logprob);
    const isEnd = this.endTokens.has(tokenId);
    const reason: FinishReason | null = isEnd ? 'stop' : this.tokens.length >= this.cfg.maxNewTokens ? 'length' : null;
    this.finishReason = reason;
    return () => {
      let text = isEnd ? '' : this.detok.push([tokenId]);
      if (reason !== null) text += this.closeText(false);
      this.text += text;
      return {
        requestId: this.requestId, index: this.index, tokenIds: [tokenId], text,
        ...(logprob ? { logprobs: [logprob] } : {}),
        ...(reason ? { finishReason: reason } : {}),
      };
    };
  }

  /** Ends the sample early (cancel or error); returns the last delta. */
  abort(reason: FinishReason, error?: string): RequestDelta {
    const text = this.closeText(false);
    this.text += text;
    this.finishReason = reason;
    return { requestId: this.requestId, index: this.index, tokenIds: [], text, finishReason: reason, ...(error ? { error } : {}) };
  }

  toOutput(): CompletionOutput {
    return {
      index: this.index,
      tokenIds: [...this.tokens],
      text: this.text,
      finishReason: this.finishReason ?? 'error',
      ...(this.cfg.logprobs !== undefined ? { logprobs: [...this.logprobs] } : {}),
    };
  }

  /** Text still held by the detokenizer and the stop matcher; none after a stop-string match. */
  private closeText(stoppedByString: boolean): string {
    if (stoppedByString) return '';
    const r = this.stop.push(this.detok.flush());
    return r.stopped ? r.text : r.text + this.stop.flush();
  }
}

const NONE: ReadonlySet<number> = new Set();
