/**
 * zod schemas of the OpenAI request bodies. Objects are strict, like OpenAI's API: an unknown
 * field is a 400 naming it. Accepted but ignored (harmless, sent by common clients): `user`,
 * `store`, `metadata`, `service_tier`, `parallel_tool_calls`, `tool_choice: "none"|"auto"`
 * without tools, `response_format: {type:"text"}`, empty `logit_bias`, `best_of` equal to `n`.
 * Accepted but refused with a 400 that says so: non-empty `logit_bias`/`tools`, `suffix`,
 * `response_format` other than text, non-text content parts, `best_of` other than `n`.
 * `null` is accepted for every optional field (LangChain and others send it).
 */
import { z } from 'zod';

const MAX_N = 32;

const stop = z.union([z.string(), z.array(z.string()).max(16)]).nullish();
const streamOptions = z
  .strictObject({ include_usage: z.boolean().nullish(), continuous_usage_stats: z.boolean().nullish() })
  .nullish();

/** Sampling fields shared by completions and chat (OpenAI ranges; extras as vLLM names them). */
const sampling = {
  model: z.string().min(1),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  n: z.number().int().min(1).max(MAX_N).nullish(),
  stream: z.boolean().nullish(),
  stream_options: streamOptions,
  stop,
  seed: z.number().int().min(-(2 ** 53) + 1).max(2 ** 53 - 1).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  logit_bias: z.record(z.string(), z.number()).nullish(),
  user: z.string().nullish(),
  // extras (vLLM / TensorRT-LLM spelling)
  top_k: z.number().int().min(-1).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  ignore_eos: z.boolean().nullish(),
  repetition_penalty: z.number().gt(0).max(10).nullish(),
  min_tokens: z.number().int().min(0).nullish(),
};

const tokenIds = z.array(z.number().int().min(0)).min(1);
const promptError = "'prompt' must be a string, a list of strings, a list of token ids or a list of lists of token ids";

export const completionRequestSchema = z.strictObject({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.string()).min(1), tokenIds, z.array(tokenIds).min(1)], { error: promptError }),
  logprobs: z.number().int().min(0).max(20).nullish(),
  echo: z.boolean().nullish(),
  best_of: z.number().int().min(1).max(MAX_N).nullish(),
  suffix: z.string().nullish(),
});
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

const contentPart = z.looseObject({ type: z.string(), text: z.string().optional() });
const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: z.union([z.string(), z.array(contentPart)]).nullish(),
  name: z.string().nullish(),
});

export const chatRequestSchema = z.strictObject({
  ...sampling,
  messages: z.array(message).min(1),
  max_completion_tokens: z.number().int().min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  response_format: z.looseObject({ type: z.string() }).nullish(),
  tools: z.array(z.unknown()).nullish(),
  tool_choice: z.unknown().optional(),
  parallel_tool_calls: z.boolean().nullish(),
  store: z.boolean().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  service_tier: z.string().nullish(),
  add_generation_prompt: z.boolean().nullish(),
});
export type ChatRequest = z.infer<typeof chatRequestSchema>;
export type ChatRequestMessage = ChatRequest['messages'][number];

/** Triton's generate extension body as TensorRT-LLM's ensemble takes it. */
export const tritonGenerateSchema = z.strictObject({
  text_input: z.string(),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).nullish(),
  top_k: z.number().int().min(0).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  seed: z.number().int().nullish(),
  random_seed: z.number().int().nullish(),
  stop_words: z.union([z.string(), z.array(z.string())]).nullish(),
  bad_words: z.union([z.string(), z.array(z.string())]).nullish(),
  stream: z.boolean().nullish(),
  end_id: z.number().int().nullish(),
  pad_id: z.number().int().nullish(),
  min_length: z.number().int().min(0).nullish(),
  min_tokens: z.number().int().min(0).nullish(),
  repetition_penalty: z.number().gt(0).nullish(),
  presence_penalty: z.number().nullish(),
  frequency_penalty: z.number().nullish(),
  length_penalty: z.number().nullish(),
  beam_width: z.number().int().min(1).nullish(),
  exclude_input_in_output: z.boolean().nullish(),
  return_log_probs: z.boolean().nullish(),
  id: z.string().nullish(),
});
export type TritonGenerateRequest = z.infer<typeof tritonGenerateSchema>;
