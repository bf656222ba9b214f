/**
 * Protocol-independent request running: admit, submit one engine request per prompt, merge
 * their deltas, observe metrics, cancel on client disconnect, release admission at the end.
 * The OpenAI and Triton routes only validate and format around it.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { FinishReason, RequestDelta, SamplingParams, TokenLogprob } from '../runtime/api.js';
import type { TextTokenizer } from '../tokenizer/types.js';
import type { AdmissionManager } from './admission.js';
import { AsyncQueue } from './async-queue.js';
import type { EngineClient, ModelInfo } from './engine-client.js';
import { ApiError } from './errors.js';
import type { ServerMetrics } from './metrics.js';

export interface ServerContext {
  readonly client: EngineClient;
  readonly tokenizer: TextTokenizer;
  readonly modelName: string;
  readonly admission: AdmissionManager;
  readonly metrics: ServerMetrics;
}

/** A tokenized prompt; `text` is what the user sent, when text. */
export interface Prompt {
  readonly tokenIds: readonly number[];
  readonly text: string | null;
}

export interface JobDelta {
  readonly promptIndex: number;
  readonly delta: RequestDelta;
}

/** Usage of a request, for the response and the request log. */
export interface JobUsage {
  numPromptTokens: number;
  numCompletionTokens: number;
}

export interface Job {
  readonly id: string;
  readonly usage: JobUsage;
  /** Deltas of all prompts and samples, in arrival order; throws when an engine request fails. */
  readonly deltas: AsyncIterable<JobDelta>;
  readonly isFinished: boolean;
  cancel(): void;
}

/** The model info, or 503 while the engine loads / after it died. */
export function requireReady(client: EngineClient): ModelInfo {
  if (client.failure !== null) throw new ApiError(503, client.failure, { code: 'engine_unavailable' });
  if (client.modelInfo === null) {
    throw new ApiError(503, 'The model is still loading; retry in a few seconds (GET /health turns 200 when ready).', { code: 'model_loading' });
  }
  return client.modelInfo;
}

/** Runs one engine request, feeding its deltas to `merged`; usage and metrics as they come. */
async function pumpRequest(
  ctx: ServerContext, requestId: string, prompt: Prompt, promptIndex: number, params: SamplingParams,
  usage: JobUsage, merged: AsyncQueue<JobDelta>,
): Promise<void> {
  usage.numPromptTokens += prompt.tokenIds.length;
  ctx.metrics.promptTokens.inc(prompt.tokenIds.length);
  const observe = ctx.metrics.trackRequest(performance.now());
  for await (const delta of ctx.client.submit({ requestId, promptTokenIds: prompt.tokenIds, params })) {
    observe(delta);
    usage.numCompletionTokens += delta.tokenIds.length;
    merged.push({ promptIndex, delta });
  }
}

/** Admits and submits one engine request per prompt. Throws ApiError 429/503 before submitting. */
export function startJob(ctx: ServerContext, prompts: readonly Prompt[], params: SamplingParams, prefix: string): Job {
  const id = `${prefix}-${randomUUID().replaceAll('-', '')}`;
  const ids = prompts.map((_, i) => (prompts.length === 1 ? id : `${id}-${i}`));
  let finished = false;
  const cancel = (): void => {
    if (!finished) for (const rid of ids) ctx.client.cancel(rid);
  };
  const release = ctx.admission.admit(prompts.length, cancel);
  const startedAt = performance.now();
  const finish = (): void => {
    if (finished) return;
    finished = true;
    release();
    ctx.metrics.e2eLatency.observe((performance.now() - startedAt) / 1000);
  };
  const usage: JobUsage = { numPromptTokens: 0, numCompletionTokens: 0 };
  const merged = new AsyncQueue<JobDelta>(cancel);
  const pumps = prompts.map((prompt, i) => pumpRequest(ctx, ids[i] as string, prompt, i, params, usage, merged));
  Promise.all(pumps).then(
    () => {
      finish();
      merged.end();
    },
    (err: unknown) => {
      cancel();
      finish();
      merged.fail(err);
    },
  );
  return { id, usage, deltas: merged, get isFinished() { return finished; }, cancel };
}

/** Cancels the job when the client's connection closes before the response was sent. */
export function cancelOnDisconnect(res: ServerResponse, job: Job): void {
  res.on('close', () => {
    if (!res.writableFinished && !job.isFinished) job.cancel();
  });
}

/** One sample's output, accumulated. */
export interface SampleOutput {
  text: string;
  numTokens: number;
  logprobs: TokenLogprob[];
  finishReason: FinishReason | null;
}

/** Runs a job to the end; outputs indexed `promptIndex * n + sampleIndex`. */
export async function collectJob(job: Job, n: number): Promise<SampleOutput[]> {
  const outputs: SampleOutput[] = [];
  for await (const { promptIndex, delta } of job.deltas) {
    const key = promptIndex * n + delta.index;
    const out = (outputs[key] ??= { text: '', numTokens: 0, logprobs: [], finishReason: null });
    out.text += delta.text;
    out.numTokens += delta.tokenIds.length;
    if (delta.logprobs) out.logprobs.push(...delta.logprobs);
    if (delta.finishReason) out.finishReason = delta.finishReason;
    if (delta.finishReason === 'error') throw new ApiError(500, `The engine failed the request: ${delta.error ?? 'unknown error'}`);
  }
  return outputs;
}

/** Prompt length check against the engine's limit (400 `context_length_exceeded`). */
export function checkPromptLength(tokenIds: readonly number[], info: ModelInfo, param: string): void {
  if (tokenIds.length === 0) throw new ApiError(400, `'${param}' must not be empty.`, { param });
  if (tokenIds.length > info.maxInputLen) {
    throw new ApiError(400,
      `The prompt has ${tokenIds.length} tokens but this engine accepts at most ${info.maxInputLen} (maxInputLen); shorten the prompt or rebuild the engine with a larger --max_input_len.`,
      { param, code: 'context_length_exceeded' });
  }
  const bad = tokenIds.find((t) => t >= info.vocabSize);
  if (bad !== undefined) {
    throw new ApiError(400, `Token id ${bad} is out of range: the vocabulary has ${info.vocabSize} tokens.`, { param });
  }
}

/** Text of one token for logprob listings. */
export function tokenText(tokenizer: TextTokenizer, tokenId: number): string {
  return tokenizer.decode([tokenId], { skipSpecialTokens: false });
}
