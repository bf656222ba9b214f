/**
 * SamplingParams validated once, at the edge (zod), into a complete immutable config the rest of the
 * runtime trusts.
 */
import { z } from 'zod';
import { RequestError } from '../../errors/index.js';
import type { SamplingParams } from '../api.js';

const nonNegInt = z.number().int().nonnegative();

const schema = z.strictObject({
  maxNewTokens: z.number().int().positive().default(16),
  minTokens: nonNegInt.default(0),
  temperature: z.number().nonnegative().default(1),
  topK: nonNegInt.default(0),
  topP: z.number().gt(0).lte(1).default(1),
  minP: z.number().min(0).lte(1).default(0),
  repetitionPenalty: z.number().positive().default(1),
  presencePenalty: z.number().min(-2).max(2).default(0),
  frequencyPenalty: z.number().min(-2).max(2).default(0),
  seed: z.number().int().optional(),
  stopTokenIds: z.array(nonNegInt).default([]),
  stop: z.array(z.string().min(1)).default([]),
  ignoreEos: z.boolean().default(false),
  logprobs: nonNegInt.max(20).optional(),
  promptLogprobs: nonNegInt.max(20).optional(),
  n: z.number().int().positive().default(1),
  beamWidth: z.number().int().positive().default(1),
  lengthPenalty: z.number().default(1),
  earlyStopping: z.boolean().default(false),
});

export type SamplingConfig = Readonly<z.infer<typeof schema>>;

/** Validates user sampling params; throws RequestError naming the bad field. */
export function createSamplingConfig(params: SamplingParams = {}): SamplingConfig {
  const parsed = schema.safeParse(params);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') ?? '';
    throw new RequestError(`invalid sampling parameter ${field || '(unknown)'}: ${issue?.message ?? 'invalid'}`, field || null);
  }
  const c = parsed.data;
  if (c.beamWidth > 1 && c.n > 1) throw new RequestError('n > 1 and beam search cannot be combined: beam search returns beamWidth outputs', 'n');
  if (c.minTokens > c.maxNewTokens) throw new RequestError(`minTokens (${c.minTokens}) exceeds maxNewTokens (${c.maxNewTokens})`, 'minTokens');
  if (c.promptLogprobs !== undefined) throw new RequestError('promptLogprobs is not supported by this runtime yet', 'promptLogprobs');
  return c;
}
