/**
 * Picks one token from one logits row. Penalties, temperature and the filters shape the
 * distribution the token is drawn from; logprobs are reported from the model's raw log-softmax
 * (before penalties, temperature and filters), as vLLM does by default, so they describe the model
 * and not the sampling settings.
 */
import type { TokenLogprob } from '../api.js';
import type { SamplingConfig } from './params.js';
import { uniformAt } from './prng.js';
import {
  applyMinP,
  applyPresenceFrequencyPenalty,
  applyRepetitionPenalty,
  applyTemperature,
  applyTopK,
  applyTopP,
  argmax,
  logSoftmax,
  softmax,
  topIndices,
} from './processors.js';

export interface SampleContext {
  readonly promptTokens: readonly number[];
  readonly outputTokens: readonly number[];
  /** Request seed and sample index: with the step (= outputTokens.length), the PRNG key. */
  readonly seed: number;
  readonly index: number;
  /** Tokens that may not be chosen now (EOS/stop ids before minTokens). */
  readonly suppress: ReadonlySet<number>;
}

export interface SampledToken {
  readonly tokenId: number;
  readonly logprob?: TokenLogprob;
}

/** Applies penalties, suppression, temperature and filters to a copy of `row`. */
export function processLogits(row: Float32Array, cfg: SamplingConfig, ctx: SampleContext): Float32Array {
  const logits = Float32Array.from(row);
  if (cfg.repetitionPenalty !== 1) applyRepetitionPenalty(logits, [...ctx.promptTokens, ...ctx.outputTokens], cfg.repetitionPenalty);
  applyPresenceFrequencyPenalty(logits, ctx.outputTokens, cfg.presencePenalty, cfg.frequencyPenalty);
  for (const t of ctx.suppress) if (t < logits.length) logits[t] = -Infinity;
  if (cfg.temperature === 0) return logits;
  applyTemperature(logits, cfg.temperature);
  applyTopK(logits, cfg.topK);
  applyTopP(logits, cfg.topP);
  applyMinP(logits, cfg.minP);
  return logits;
}

/** Inverse-CDF draw from `probs` with uniform `u` (skips zero-probability tokens). */
export function drawFrom(probs: Float64Array, u: number): number {
  let cum = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    const q = probs[i] as number;
    if (q <= 0) continue;
    cum += q;
    last = i;
    if (u < cum) return i;
  }
  return last;
}

export function sampleToken(row: Float32Array, cfg: SamplingConfig, ctx: SampleContext): SampledToken {
  const logits = processLogits(row, cfg, ctx);
  const tokenId = cfg.temperature === 0 ? argmax(logits) : drawFrom(softmax(logits), uniformAt(ctx.seed, ctx.index, ctx.outputTokens.length));
  if (cfg.logprobs === undefined) return { tokenId };
  return { tokenId, logprob: tokenLogprob(logSoftmax(row), tokenId, cfg.logprobs) };
}

/** The chosen token's logprob and the `topN` most likely alternatives from `logprobs`. */
export function tokenLogprob(logprobs: Float64Array, tokenId: number, topN: number): TokenLogprob {
  const top = topN === 0 ? [] : topIndices(logprobs, topN).map((t) => ({ tokenId: t, logprob: logprobs[t] as number }));
  return { tokenId, logprob: logprobs[tokenId] as number, top };
}
