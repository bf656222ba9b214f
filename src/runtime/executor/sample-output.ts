/**
 * The output of one sample (n > 1 gives several): its generated tokens, incremental
 * detokenization, stop-string hold-back and finish conditions. It turns each new token into the
 * delta to stream; the concatenation of the deltas' text is the final text.
 */
import type { IncrementalDetokenizer } from '../../tokenizer/types.js';
import type { CompletionOutput, FinishReason, RequestDelta, TokenLogprob } from '../api.js';
import type { SamplingConfig } from '../sampling/params.js';
import { StopStringMatcher } from '../sampling/stop-strings.js';

export class SampleOutput {
  readonly tokens: number[] = [];
  readonly logprobs: TokenLogprob[] = [];
  text = '';
  finishReason: FinishReason | null = null;
  private readonly stop: StopStringMatcher;

  constructor(
    readonly requestId: string,
    readonly index: number,
    /** The scheduler sequence generating this sample. */
    public seqId: number,
    private readonly cfg: SamplingConfig,
    private readonly endTokens: ReadonlySet<number>,
    private readonly detok: IncrementalDetokenizer,
  ) {
    this.stop = new StopStringMatcher(cfg.stop);
  }

  /** Tokens that may not be sampled yet (EOS and stop ids before minTokens). */
  suppressed(): ReadonlySet<number> {
    return this.tokens.length < this.cfg.minTokens ? this.endTokens : NONE;
  }

  /** Records a sampled token; returns its delta (with finishReason when the sample ended). */
  append(tokenId: number, logprob: TokenLogprob | undefined): RequestDelta {
    this.tokens.push(tokenId);
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
