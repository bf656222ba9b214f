/**
 * Beam search over the scheduler's sequences. Each live beam is a sequence; a step happens when
 * every live beam has its logits (a preempted beam is recomputed first, the others wait idle with
 * their rows kept). New beams reuse their parent's sequence for the first child and fork it (KV
 * blocks shared, copy-on-write of the partial last block) for the others; dropped beams are
 * released. Outputs are emitted at the end, best hypothesis first (beam search cannot stream).
 * Temperature and the sampling filters do not apply; minTokens and ignoreEos do.
 */
import type { CompletionOutput, FinishReason, RequestResult } from '../api.js';
import { BeamHypotheses, type Hypothesis, beamStep } from '../sampling/beam-search.js';
import { logSoftmax } from '../sampling/processors.js';
import { ActiveRequest, type RequestInfo, type SeqHost } from './request.js';

interface Beam {
  readonly seqId: number;
  readonly tokens: readonly number[];
  readonly cumLogprob: number;
}

export class BeamRequest extends ActiveRequest {
  private beams: Beam[];
  private readonly pending = new Map<number, Float64Array>();
  private readonly hyps: BeamHypotheses;
  private final: CompletionOutput[] = [];

  constructor(info: RequestInfo, host: SeqHost, rootSeqId: number) {
    super(info, host);
    this.beams = [{ seqId: rootSeqId, tokens: [], cumLogprob: 0 }];
    this.hyps = new BeamHypotheses(info.cfg.beamWidth, info.cfg.lengthPenalty, info.cfg.earlyStopping);
  }

  onLogits(seqId: number, row: Float32Array): void {
    const beam = this.beams.find((b) => b.seqId === seqId);
    if (!beam || this.done) return;
    const lp = logSoftmax(row);
    if (beam.tokens.length < this.info.cfg.minTokens) for (const t of this.info.endTokens) if (t < lp.length) lp[t] = -Infinity;
    this.pending.set(seqId, lp);
    if (this.beams.every((b) => this.pending.has(b.seqId))) this.step();
  }

  abort(reason: FinishReason, error?: string): void {
    if (this.done) return;
    for (const b of this.beams) this.host.release(b.seqId);
    this.final = this.beams.map((b, index) => ({ index, tokenIds: [...b.tokens], text: this.decode(b.tokens), finishReason: reason, cumulativeLogprob: b.cumLogprob }));
    this.final.forEach((o) => this.info.stream.push({ requestId: this.info.id, index: o.index, tokenIds: o.tokenIds, text: o.text, finishReason: reason, ...(error ? { error } : {}) }));
    this.markFinished();
  }

  protected outputs(): RequestResult['outputs'] {
    return this.final;
  }

  private step(): void {
    this.markFirstToken();
    const rows = this.beams.map((b) => this.pending.get(b.seqId) as Float64Array);
    this.pending.clear();
    const { endTokens, cfg } = this.info;
    const isEnd = (t: number): boolean => endTokens.has(t);
    const res = beamStep(this.beams.map((b) => b.tokens), this.beams.map((b) => b.cumLogprob), rows, cfg.beamWidth, isEnd, this.hyps);
    const numGenerated = (this.beams[0]?.tokens.length ?? 0) + 1;
    this.numGenerated += this.beams.length;
    this.beams = this.advance(res.next);
    if (this.beams.length === 0 || this.hyps.isDone(res.bestCumLogprob, numGenerated)) return this.finish();
    if (numGenerated >= cfg.maxNewTokens) {
      for (const b of this.beams) this.hyps.add(b.tokens, b.cumLogprob, false);
      this.finish();
    }
  }

  /** Maps the chosen candidates onto sequences: forks first (before any append), then appends. */
  private advance(next: readonly { parent: number; tokenId: number; cumLogprob: number }[]): Beam[] {
    const used = new Set<number>();
    const seqIds = next.map((c) => {
      const parent = this.beams[c.parent] as Beam;
      if (!used.has(c.parent)) {
        used.add(c.parent);
        return parent.seqId;
      }
      return this.host.fork(parent.seqId, this);
    });
    this.beams.forEach((b, i) => {
      if (!used.has(i)) this.host.release(b.seqId);
    });
    return next.map((c, i) => {
      const seqId = seqIds[i] as number;
      this.host.append(seqId, c.tokenId);
      return { seqId, tokens: [...(this.beams[c.parent] as Beam).tokens, c.tokenId], cumLogprob: c.cumLogprob };
    });
  }

  private finish(): void {
    for (const b of this.beams) this.host.release(b.seqId);
    this.beams = [];
    this.final = this.hyps.sorted().map((h, index) => this.toOutput(h, index));
    for (const o of this.final) this.info.stream.push({ requestId: this.info.id, index: o.index, tokenIds: o.tokenIds, text: o.text, finishReason: o.finishReason });
    this.markFinished();
  }

  private toOutput(h: Hypothesis, index: number): CompletionOutput {
    const textTokens = h.eos ? h.tokens.slice(0, -1) : h.tokens;
    return { index, tokenIds: [...h.tokens], text: this.decode(textTokens), finishReason: h.eos ? 'stop' : 'length', cumulativeLogprob: h.cumLogprob, score: h.score };
  }

  private decode(tokens: readonly number[]): string {
    const d = this.info.tokenizer.createDetokenizer({ skipSpecialTokens: true });
    return d.push(tokens) + d.flush();
  }
}
