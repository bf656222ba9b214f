/**
 * OpenAI / Triton request fields → the runtime's `SamplingParams`, with the checks that need
 * the engine's limits (zod has done the types and ranges).
 */
import type { SamplingParams } from '../runtime/api.js';
import type { ModelInfo } from './engine-client.js';
import { ApiError } from './errors.js';

/** Sampling fields common to completions and chat, as validated by the schemas. */
export interface OpenAiSamplingFields {
  readonly temperature?: number | null;
  readonly top_p?: number | null;
  readonly n?: number | null;
  readonly stop?: string | readonly string[] | null;
  readonly seed?: number | null;
  readonly presence_penalty?: number | null;
  readonly frequency_penalty?: number | null;
  readonly logit_bias?: Readonly<Record<string, number>> | null;
  readonly top_k?: number | null;
  readonly min_p?: number | null;
  readonly ignore_eos?: boolean | null;
  readonly repetition_penalty?: number | null;
  readonly min_tokens?: number | null;
}

/** Checks a requested generation length against the engine's limit. */
export function checkMaxTokens(maxTokens: number, info: ModelInfo, param: string): number {
  if (maxTokens > info.maxOutputLen) {
    throw new ApiError(400,
      `'${param}' is ${maxTokens} but this engine generates at most ${info.maxOutputLen} tokens per request (maxOutputLen); lower '${param}'.`,
      { param });
  }
  return maxTokens;
}

export function stopList(stop: string | readonly string[] | null | undefined): string[] {
  if (stop === null || stop === undefined) return [];
  return (typeof stop === 'string' ? [stop] : [...stop]).filter((s) => s.length > 0);
}

/** Drops undefined entries, so defaults of the runtime apply. */
function compact(params: Record<string, unknown>): SamplingParams {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined && v !== null)) as SamplingParams;
}

export function toSamplingParams(body: OpenAiSamplingFields, maxNewTokens: number, logprobs: number | undefined): SamplingParams {
  if (body.logit_bias && Object.keys(body.logit_bias).length > 0) {
    throw new ApiError(400, "'logit_bias' is not supported by this server; remove it.", { param: 'logit_bias' });
  }
  if (body.min_tokens != null && body.min_tokens > maxNewTokens) {
    throw new ApiError(400, `'min_tokens' (${body.min_tokens}) must not exceed max_tokens (${maxNewTokens}).`, { param: 'min_tokens' });
  }
  const stop = stopList(body.stop);
  return compact({
    maxNewTokens,
    minTokens: body.min_tokens,
    temperature: body.temperature,
    topP: body.top_p,
    topK: body.top_k === -1 ? 0 : body.top_k,
    minP: body.min_p,
    repetitionPenalty: body.repetition_penalty,
    presencePenalty: body.presence_penalty,
    frequencyPenalty: body.frequency_penalty,
    seed: body.seed,
    stop: stop.length > 0 ? stop : undefined,
    ignoreEos: body.ignore_eos,
    logprobs,
    n: body.n,
  });
}
