/**
 * Sampling parameters as the CLI and JSONL prompt files spell them (snake_case, like
 * TensorRT-LLM and vLLM), validated once with zod and mapped to `SamplingParams`.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import type { SamplingParams } from '../runtime/api.js';
import { collect, parseNonNegativeInt, parseNumber, parsePositiveInt } from './args.js';

export const samplingFieldsSchema = z.object({
  max_new_tokens: z.number().int().positive().optional(),
  min_tokens: z.number().int().nonnegative().optional(),
  temperature: z.number().nonnegative().optional(),
  top_k: z.number().int().nonnegative().optional(),
  top_p: z.number().gt(0).max(1).optional(),
  min_p: z.number().min(0).max(1).optional(),
  repetition_penalty: z.number().positive().optional(),
  presence_penalty: z.number().min(-2).max(2).optional(),
  frequency_penalty: z.number().min(-2).max(2).optional(),
  seed: z.number().int().optional(),
  stop: z.union([z.string(), z.array(z.string())]).optional(),
  stop_token_ids: z.array(z.number().int().nonnegative()).optional(),
  ignore_eos: z.boolean().optional(),
  logprobs: z.number().int().nonnegative().optional(),
  n: z.number().int().positive().optional(),
  beam_width: z.number().int().positive().optional(),
  length_penalty: z.number().optional(),
  early_stopping: z.boolean().optional(),
});

export type SamplingFields = z.infer<typeof samplingFieldsSchema>;

/** Maps validated snake_case fields to SamplingParams, leaving unset fields unset. */
export function toSamplingParams(f: SamplingFields): SamplingParams {
  const entries: [keyof SamplingParams, unknown][] = [
    ['maxNewTokens', f.max_new_tokens], ['minTokens', f.min_tokens], ['temperature', f.temperature],
    ['topK', f.top_k], ['topP', f.top_p], ['minP', f.min_p], ['repetitionPenalty', f.repetition_penalty],
    ['presencePenalty', f.presence_penalty], ['frequencyPenalty', f.frequency_penalty], ['seed', f.seed],
    ['stop', typeof f.stop === 'string' ? [f.stop] : f.stop], ['stopTokenIds', f.stop_token_ids],
    ['ignoreEos', f.ignore_eos], ['logprobs', f.logprobs], ['n', f.n], ['beamWidth', f.beam_width],
    ['lengthPenalty', f.length_penalty], ['earlyStopping', f.early_stopping],
  ];
  return Object.fromEntries(entries.filter(([, v]) => v !== undefined)) as SamplingParams;
}

/** Declares the sampling flags on a command. */
export function addSamplingFlags(cmd: Command): Command {
  return cmd
    .option('--max_new_tokens <n>', 'tokens to generate per prompt', parsePositiveInt('max_new_tokens'))
    .option('--min_tokens <n>', 'tokens before EOS/stop may end a request', parseNonNegativeInt('min_tokens'))
    .option('--temperature <t>', '0 = greedy', parseNumber('temperature'))
    .option('--top_k <k>', 'keep the k most likely tokens (0 = off)', parseNonNegativeInt('top_k'))
    .option('--top_p <p>', 'nucleus sampling mass (1 = off)', parseNumber('top_p'))
    .option('--min_p <p>', 'drop tokens below p × the top probability', parseNumber('min_p'))
    .option('--repetition_penalty <r>', 'HF-style repetition penalty (1 = off)', parseNumber('repetition_penalty'))
    .option('--presence_penalty <p>', 'OpenAI-style presence penalty', parseNumber('presence_penalty'))
    .option('--frequency_penalty <p>', 'OpenAI-style frequency penalty', parseNumber('frequency_penalty'))
    .option('--seed <s>', 'per-request sampling seed', parseNumber('seed'))
    .option('--stop <text>', 'stop string (repeatable)', collect)
    .option('--ignore_eos', 'keep generating past EOS')
    .option('--logprobs <n>', 'return logprobs with n alternatives', parseNonNegativeInt('logprobs'))
    .option('--n <n>', 'samples per prompt', parsePositiveInt('n'))
    .option('--beam_width <n>', 'beam search width (1 = off)', parsePositiveInt('beam_width'))
    .option('--length_penalty <x>', 'beam search length penalty', parseNumber('length_penalty'))
    .option('--early_stopping', 'beam search: stop when beam_width hypotheses finished');
}

/** Collects the sampling flags commander parsed into validated fields. */
export function samplingFieldsFromOptions(opts: Record<string, unknown>): SamplingFields {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(samplingFieldsSchema.shape)) {
    if (opts[key] !== undefined) picked[key] = opts[key];
  }
  const parsed = samplingFieldsSchema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`--${String(issue?.path[0] ?? '?')}: ${issue?.message ?? 'invalid value'}`);
  }
  return parsed.data;
}
