/**
 * A request in flight. `SamplingRequest` (n ≥ 1 independent samples) and `BeamRequest` (beam
 * search) turn logits rows into tokens and drive their sequences through the `SeqHost` (fork,
 * append, finish); the executor only routes rows and owns the loop.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import type { RowSampling } from '../../backends/types.js';
import type { TextTokenizer } from '../../tokenizer/types.js';
import type { FinishReason, RequestResult, TokenLogprob } from '../api.js';
import type { SamplingConfig } from '../sampling/params.js';
import { uniformAt } from '../sampling/prng.js';
import { sampleToken } from '../sampling/sampler.js';
import type { DeltaStream } from './delta-stream.js';
import { SampleOutput } from './sample-output.js';

/** What a request may do to the scheduler, through the executor. */
export interface SeqHost {
  /** A new sequence id forked from `parentSeqId`, routed to `owner`. */
  fork(parentSeqId: number, owner: ActiveRequest): number;
  append(seqId: number, tokenId: number): void;
  /** Removes the sequence; its blocks return to the pool at once. */
  release(seqId: number): void;
  /**
   * Queues output work (detokenization, stream pushes, ends) that the scheduler does not wait
   * for; the executor runs the queue in order, while the GPU runs the next step when it can.
   */
  output(work: () => void): void;
}

export interface RequestInfo {
  readonly id: string;
  readonly prompt: string | null;
  readonly promptTokens: readonly number[];
  readonly cfg: SamplingConfig;
  readonly seed: number;
  /** EOS (unless ignoreEos) and stop token ids. */
  readonly endTokens: ReadonlySet<number>;
  readonly stream: DeltaStream;
  readonly tokenizer: TextTokenizer;
  readonly submittedAt: number;
}

export abstract class ActiveRequest {
  firstTokenAt: number | null = null;
  finishedAt: number | null = null;
  /** Tokens generated so far, over all outputs (for stats). */
  numGenerated = 0;

  constructor(readonly info: RequestInfo, protected readonly host: SeqHost) {}

  get done(): boolean {
    return this.finishedAt !== null;
  }

  /** A logits row for `seqId`'s last token (a view: copy it to keep it past this call). */
  abstract onLogits(seqId: number, row: Float32Array): void;
  /**
   * How the backend may sample `seqId`'s next token, or undefined when only the host sampler can
   * (beam search, n > 1 before the fork, and, when `extras` is false, penalties, logprobs and
   * min_tokens masks): then the step uses logits. `extras`: the backend applies
   * RowSampling.penalties/suppress and returns logprobs.
   */
  tryRowSampling(_seqId: number, _extras: boolean): RowSampling | undefined {
    return undefined;
  }
  /** True when `seqId`'s next token certainly ends it, whatever its value (max_tokens reached). */
  nextTokenEnds(_seqId: number): boolean {
    return false;
  }
  /** The token the backend sampled for `seqId` with `tryRowSampling(seqId)`'s settings (and its logprobs when asked). */
  onToken(seqId: number, _tokenId: number, _logprob?: TokenLogprob): void {
    assert.fail(`sequence ${seqId}: onToken without a RowSampling from this request`);
  }
  /** Ends every unfinished output with `reason`, releasing its sequences. */
  abstract abort(reason: FinishReason, error?: string): void;
  protected abstract outputs(): RequestResult['outputs'];

  result(): RequestResult {
    const end = this.finishedAt ?? performance.now();
    return {
      requestId: this.info.id,
      prompt: this.info.prompt,
      promptTokenIds: [...this.info.promptTokens],
      outputs: this.outputs(),
      ttftMs: (this.firstTokenAt ?? end) - this.info.submittedAt,
      latencyMs: end - this.info.submittedAt,
    };
  }

  protected markFirstToken(): void {
    this.firstTokenAt ??= performance.now();
  }

  protected markFinished(): void {
    this.finishedAt = performance.now();
    this.host.output(() => this.info.stream.end());
  }
}

/** n ≥ 1 independent samples; samples 1..n-1 fork the prompt's blocks after its prefill. */
export class SamplingRequest extends ActiveRequest {
  private readonly samples: SampleOutput[] = [];
  private forked = false;

  constructor(info: RequestInfo, host: SeqHost, rootSeqId: number) {
    super(info, host);
    this.samples.push(this.newSample(0, rootSeqId));
  }

  onLogits(seqId: number, row: Float32Array): void {
    // The prompt's logits serve every sample: fork them all from it before sampling.
    const first = !this.forked;
    if (first) this.forkSamples();
    this.markFirstToken();
    for (const s of this.samples) {
      if (s.finishReason !== null || (!first && s.seqId !== seqId)) continue;
      const ctx = { promptTokens: this.info.promptTokens, outputTokens: s.tokens, seed: this.info.seed, index: s.index, suppress: s.suppressed() };
      const { tokenId, logprob } = sampleToken(row, this.info.cfg, ctx);
      this.emit(s, tokenId, logprob);
    }
    if (this.samples.every((s) => s.finishReason !== null)) this.markFinished();
  }

  /** The backend may sample when it can do all the host sampler would (see ActiveRequest.tryRowSampling). */
  override tryRowSampling(seqId: number, extras: boolean): RowSampling | undefined {
    const c = this.info.cfg;
    // Before the fork, one prompt row must serve all n samples: only the host can do that.
    if (!this.forked && c.n > 1) return undefined;
    const s = this.liveSample(seqId);
    if (!s) return undefined;
    const suppressed = s.suppressed();
    if (!extras && (c.logprobs !== undefined || s.penalties || suppressed.size > 0)) return undefined;
    // The same PRNG key as sampleToken's: (seed, sample index, tokens generated so far).
    const uniform = c.temperature === 0 ? 0 : uniformAt(this.info.seed, s.index, s.tokens.length);
    return {
      temperature: c.temperature, topK: c.topK, topP: c.topP, minP: c.minP, uniform,
      ...(s.penalties ? { penalties: s.penalties.penalties() } : {}),
      ...(suppressed.size > 0 ? { suppress: [...suppressed] } : {}),
      ...(c.logprobs !== undefined ? { logprobs: c.logprobs } : {}),
    };
  }

  override nextTokenEnds(seqId: number): boolean {
    const s = this.liveSample(seqId);
    return s !== undefined && s.tokens.length + 1 >= this.info.cfg.maxNewTokens;
  }

  override onToken(seqId: number, tokenId: number, logprob?: TokenLogprob): void {
    if (!this.forked) this.forkSamples();
    this.markFirstToken();
    const s = this.liveSample(seqId);
    if (s) this.emit(s, tokenId, logprob);
    if (this.samples.every((x) => x.finishReason !== null)) this.markFinished();
  }

  abort(reason: FinishReason, error?: string): void {
    for (const s of this.samples) {
      if (s.finishReason !== null) continue;
      this.host.release(s.seqId);
      this.info.stream.push(s.abort(reason, error));
    }
    if (!this.done) this.markFinished();
  }

  protected outputs(): RequestResult['outputs'] {
    return this.samples.map((s) => s.toOutput());
  }

  private liveSample(seqId: number): SampleOutput | undefined {
    return this.samples.find((s) => s.seqId === seqId && s.finishReason === null);
  }

  private emit(s: SampleOutput, tokenId: number, logprob: TokenLogprob | undefined): void {
    this.numGenerated++;
    const render = s.appendDeferred(tokenId, logprob);
    this.host.output(() => this.info.stream.push(render()));
    if (s.finishReason !== null) this.host.release(s.seqId);
    else this.host.append(s.seqId, tokenId);
  }

  /** After the prompt's prefill, samples 1..n-1 share its blocks (fork before any token is appended). */
  private forkSamples(): void {
    this.forked = true;
    const root = this.samples[0] as SampleOutput;
    for (let i = 1; i < this.info.cfg.n; i++) this.samples.push(this.newSample(i, this.host.fork(root.seqId, this)));
  }

  private newSample(index: number, seqId: number): SampleOutput {
    const detok = this.info.tokenizer.createDetokenizer({ skipSpecialTokens: true });
    return new SampleOutput(this.info.id, index, seqId, this.info.cfg, this.info.endTokens, detok, this.info.promptTokens);
  }
}
