/**
 * Beam search, HF `BeamSearchScorer` semantics, as pure functions over log-probabilities. Each step
 * takes the top 2·W candidates (beam × token) by cumulative logprob; an EOS candidate ranked within
 * the top W becomes a finished hypothesis scored cumLogprob / length^lengthPenalty (length counts
 * the EOS token), the others continue until W live beams are chosen. The executor maps beams to
 * sequences, which share KV blocks through fork + copy-on-write.
 */

export interface Hypothesis {
  readonly tokens: readonly number[];
  readonly cumLogprob: number;
  readonly score: number;
  /** True when it ended with EOS (else it hit maxNewTokens). */
  readonly eos: boolean;
}

export interface BeamCandidate {
  /** Index of the parent beam in the list passed to `selectCandidates`. */
  readonly parent: number;
  readonly tokenId: number;
  readonly cumLogprob: number;
}

/** The W best finished hypotheses of one request. */
export class BeamHypotheses {
  private readonly hyps: Hypothesis[] = [];

  constructor(readonly width: number, readonly lengthPenalty: number, readonly earlyStopping: boolean) {}

  get size(): number {
    return this.hyps.length;
  }

  add(tokens: readonly number[], cumLogprob: number, eos: boolean): void {
    const score = cumLogprob / Math.pow(tokens.length, this.lengthPenalty);
    if (this.hyps.length >= this.width && score <= this.worstScore()) return;
    this.hyps.push({ tokens: [...tokens], cumLogprob, score, eos });
    this.hyps.sort((a, b) => b.score - a.score);
    if (this.hyps.length > this.width) this.hyps.pop();
  }

  /**
   * HF `is_done`: with W hypotheses, done at once under early stopping, else when the best live
   * cumulative logprob, length-penalised at the current length, cannot beat the worst hypothesis.
   */
  isDone(bestLiveCumLogprob: number, numGenerated: number): boolean {
    if (this.hyps.length < this.width) return false;
    if (this.earlyStopping) return true;
    return this.worstScore() >= bestLiveCumLogprob / Math.pow(numGenerated, this.lengthPenalty);
  }

  /** Best first. */
  sorted(): readonly Hypothesis[] {
    return this.hyps;
  }

  private worstScore(): number {
    return this.hyps[this.hyps.length - 1]?.score ?? -Infinity;
  }
}

/** The top `count` (beam, token) pairs by cumulative logprob, best first (ties: lower beam, lower token). */
export function topCandidates(beamCum: readonly number[], rows: readonly Float64Array[], count: number): BeamCandidate[] {
  const top: BeamCandidate[] = [];
  rows.forEach((row, parent) => {
    const base = beamCum[parent] ?? 0;
    for (let t = 0; t < row.length; t++) {
      const cum = base + (row[t] as number);
      if (cum === -Infinity) continue;
      if (top.length === count && cum <= (top[count - 1] as BeamCandidate).cumLogprob) continue;
      let i = top.length;
      while (i > 0 && (top[i - 1] as BeamCandidate).cumLogprob < cum) i--;
      top.splice(i, 0, { parent, tokenId: t, cumLogprob: cum });
      if (top.length > count) top.pop();
    }
  });
  return top;
}

export interface BeamStepResult {
  /** The next live beams (at most W), best first. */
  readonly next: readonly BeamCandidate[];
  /** Best candidate's cumulative logprob (for `isDone`). */
  readonly bestCumLogprob: number;
}

/**
 * One beam step. `beamTokens[i]` are beam i's generated tokens so far. Finished EOS hypotheses
 * are added to `hyps` (EOS included in their tokens).
 */
export function beamStep(
  beamTokens: readonly (readonly number[])[],
  beamCum: readonly number[],
  rows: readonly Float64Array[],
  width: number,
  isEos: (tokenId: number) => boolean,
  hyps: BeamHypotheses,
): BeamStepResult {
  const cands = topCandidates(beamCum, rows, 2 * width);
  const next: BeamCandidate[] = [];
  for (let rank = 0; rank < cands.length && next.length < width; rank++) {
    const c = cands[rank] as BeamCandidate;
    if (isEos(c.tokenId)) {
      if (rank < width) hyps.add([...(beamTokens[c.parent] ?? []), c.tokenId], c.cumLogprob, true);
    } else {
      next.push(c);
    }
  }
  return { next, bestCumLogprob: cands[0]?.cumLogprob ?? -Infinity };
}
