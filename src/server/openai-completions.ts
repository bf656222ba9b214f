/** POST /v1/completions: OpenAI's legacy completions API (prompt → text). */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TokenLogprob } from '../runtime/api.js';
import type { ModelInfo } from './engine-client.js';
import { ApiError } from './errors.js';
import {
  cancelOnDisconnect, checkPromptLength, collectJob, requireReady, startJob, tokenText,
  type Job, type Prompt, type SampleOutput, type ServerContext,
} from './generation.js';
import { openAiFinishReason, parseBody, streamJob, usageBody, type StreamFormatter } from './openai-common.js';
import { checkMaxTokens, toSamplingParams } from './sampling.js';
import { completionRequestSchema, type CompletionRequest } from './schemas.js';
import { setRequestUsage } from './request-log.js';

const DEFAULT_MAX_TOKENS = 16;

interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

function toPrompts(ctx: ServerContext, body: CompletionRequest, info: ModelInfo): Prompt[] {
  const p = body.prompt;
  let prompts: Prompt[];
  if (typeof p === 'string') prompts = [fromText(ctx, p)];
  else if (p.length > 0 && typeof p[0] === 'string') prompts = (p as string[]).map((t) => fromText(ctx, t));
  else if (p.length > 0 && typeof p[0] === 'number') prompts = [{ tokenIds: p as number[], text: null }];
  else prompts = (p as number[][]).map((ids) => ({ tokenIds: ids, text: null }));
  for (const prompt of prompts) checkPromptLength(prompt.tokenIds, info, 'prompt');
  return prompts;
}

function fromText(ctx: ServerContext, text: string): Prompt {
  if (text.length === 0) throw new ApiError(400, "'prompt' must not be empty.", { param: 'prompt' });
  return { tokenIds: ctx.tokenizer.encode(text), text };
}

function logprobsBody(ctx: ServerContext, lps: readonly TokenLogprob[], offset: number): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  for (const lp of lps) {
    const token = tokenText(ctx.tokenizer, lp.tokenId);
    out.tokens.push(token);
    out.token_logprobs.push(lp.logprob);
    out.top_logprobs.push(Object.fromEntries(lp.top.map((t) => [tokenText(ctx.tokenizer, t.tokenId), t.logprob])));
    out.text_offset.push(offset);
    offset += token.length;
  }
  return out;
}

function checkUnsupported(body: CompletionRequest, n: number): void {
  if (body.suffix) throw new ApiError(400, "'suffix' is not supported by this server; remove it.", { param: 'suffix' });
  if (body.best_of != null && body.best_of !== n) {
    throw new ApiError(400, `'best_of' must equal 'n' (${n}) on this server; use 'n' for several samples.`, { param: 'best_of' });
  }
  if (body.echo && body.logprobs != null) {
    throw new ApiError(400, "'echo' together with 'logprobs' is not supported; drop one of them.", { param: 'echo' });
  }
  if (!body.stream && body.stream_options) {
    throw new ApiError(400, "'stream_options' is only allowed when 'stream' is true.", { param: 'stream_options' });
  }
}

interface CompletionContext {
  readonly ctx: ServerContext;
  readonly body: CompletionRequest;
  readonly n: number;
  readonly job: Job;
  readonly head: { id: string; object: string; created: number; model: string };
  /** The prompt text to prepend to a choice (echo), or ''. */
  echoText(promptIndex: number): string;
}

function completionBody(c: CompletionContext, outputs: readonly SampleOutput[]): unknown {
  const choices = outputs.map((o, i) => ({
    index: i,
    text: c.echoText(Math.floor(i / c.n)) + o.text,
    logprobs: c.body.logprobs != null ? logprobsBody(c.ctx, o.logprobs, 0) : null,
    finish_reason: openAiFinishReason(o.finishReason),
  }));
  return { ...c.head, choices, usage: usageBody(c.job.usage) };
}

function completionChunks(c: CompletionContext): StreamFormatter {
  const includeUsage = c.body.stream_options?.include_usage === true;
  const offsets = new Map<number, number>();
  return {
    start: () => [],
    delta: ({ promptIndex, delta }) => {
      const index = promptIndex * c.n + delta.index;
      const offset = offsets.get(index);
      const text = (offset === undefined ? c.echoText(promptIndex) : '') + delta.text;
      const logprobs = c.body.logprobs != null ? logprobsBody(c.ctx, delta.logprobs ?? [], offset ?? 0) : null;
      offsets.set(index, (offset ?? 0) + text.length);
      if (text === '' && !delta.finishReason && (logprobs?.tokens.length ?? 0) === 0) return [];
      const choice = { index, text, logprobs, finish_reason: openAiFinishReason(delta.finishReason) };
      return [{ ...c.head, choices: [choice], ...(includeUsage ? { usage: null } : {}) }];
    },
    end: () => (includeUsage ? [{ ...c.head, choices: [], usage: usageBody(c.job.usage) }] : []),
  };
}

export async function handleCompletion(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const body = parseBody(completionRequestSchema, request.body);
  if (body.model !== ctx.modelName) throw unknownModel(body.model, ctx.modelName);
  const info = requireReady(ctx.client);
  const n = body.n ?? 1;
  checkUnsupported(body, n);
  const maxTokens = checkMaxTokens(body.max_tokens ?? Math.min(DEFAULT_MAX_TOKENS, info.maxOutputLen), info, 'max_tokens');
  const params = toSamplingParams(body, maxTokens, body.logprobs ?? undefined);
  const prompts = toPrompts(ctx, body, info);
  const job = startJob(ctx, prompts, params, 'cmpl');
  setRequestUsage(request, job.usage);
  cancelOnDisconnect(reply.raw, job);
  const c: CompletionContext = {
    ctx, body, n, job,
    head: { id: job.id, object: 'text_completion', created: Math.floor(Date.now() / 1000), model: ctx.modelName },
    echoText: (promptIndex) => {
      const prompt = prompts[promptIndex] as Prompt;
      return body.echo ? (prompt.text ?? ctx.tokenizer.decode(prompt.tokenIds)) : '';
    },
  };
  if (!body.stream) return completionBody(c, await collectJob(job, n));
  await streamJob(reply, job, completionChunks(c));
  return reply;
}

export function unknownModel(asked: string, served: string): ApiError {
  return new ApiError(404, `The model '${asked}' does not exist; this server serves '${served}' (see GET /v1/models).`, {
    param: 'model', code: 'model_not_found',
  });
}
