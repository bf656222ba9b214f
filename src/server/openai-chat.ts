/** POST /v1/chat/completions: messages rendered by the model's chat template. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TokenLogprob } from '../runtime/api.js';
import type { ChatMessage } from '../tokenizer/types.js';
import { ApiError } from './errors.js';
import {
  cancelOnDisconnect, checkPromptLength, collectJob, requireReady, startJob, tokenText,
  type Job, type Prompt, type ServerContext,
} from './generation.js';
import { unknownModel } from './openai-completions.js';
import { openAiFinishReason, parseBody, streamJob, usageBody, type StreamFormatter } from './openai-common.js';
import { setRequestUsage } from './request-log.js';
import { checkMaxTokens, toSamplingParams } from './sampling.js';
import { chatRequestSchema, type ChatRequest, type ChatRequestMessage } from './schemas.js';

interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

function messageText(message: ChatRequestMessage, i: number): string {
  const content = message.content;
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  return content.map((part, j) => {
    if (part.type !== 'text' || typeof part.text !== 'string') {
      throw new ApiError(400, `Content part type '${part.type}' is not supported: this model takes text parts only.`, {
        param: `messages.${i}.content.${j}.type`,
      });
    }
    return part.text;
  }).join('');
}

function chatPrompt(ctx: ServerContext, body: ChatRequest): Prompt {
  if (!ctx.tokenizer.hasChatTemplate()) {
    throw new ApiError(400, `The model '${ctx.modelName}' has no chat template; use POST /v1/completions with a plain prompt instead.`, {
      param: 'messages', code: 'chat_template_missing',
    });
  }
  const messages: ChatMessage[] = body.messages.map((m, i) => ({ role: m.role, content: messageText(m, i) }));
  let text: string;
  try {
    text = ctx.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: body.add_generation_prompt ?? true });
  } catch (err) {
    throw new ApiError(400, `The chat template failed on these messages: ${err instanceof Error ? err.message : String(err)}`, { param: 'messages' });
  }
  // The template writes the special tokens (BOS etc.) itself.
  return { tokenIds: ctx.tokenizer.encode(text, { addSpecialTokens: false }), text };
}

function checkUnsupported(body: ChatRequest): void {
  if (body.tools && body.tools.length > 0) throw new ApiError(400, "'tools' are not supported by this server; remove them.", { param: 'tools' });
  if (body.response_format && body.response_format.type !== 'text') {
    throw new ApiError(400, `response_format '${body.response_format.type}' is not supported; only 'text' is.`, { param: 'response_format' });
  }
  if (body.top_logprobs != null && !body.logprobs) {
    throw new ApiError(400, "'top_logprobs' requires 'logprobs' to be true.", { param: 'top_logprobs' });
  }
  if (!body.stream && body.stream_options) {
    throw new ApiError(400, "'stream_options' is only allowed when 'stream' is true.", { param: 'stream_options' });
  }
}

function logprobsContent(ctx: ServerContext, lps: readonly TokenLogprob[]): (ChatTokenLogprob & { top_logprobs: ChatTokenLogprob[] })[] {
  const entry = (tokenId: number, logprob: number): ChatTokenLogprob => {
    const token = tokenText(ctx.tokenizer, tokenId);
    return { token, logprob, bytes: [...Buffer.from(token, 'utf8')] };
  };
  return lps.map((lp) => ({ ...entry(lp.tokenId, lp.logprob), top_logprobs: lp.top.map((t) => entry(t.tokenId, t.logprob)) }));
}

function chatChunks(ctx: ServerContext, body: ChatRequest, job: Job, created: number): StreamFormatter {
  const n = body.n ?? 1;
  const includeUsage = body.stream_options?.include_usage === true;
  const head = { id: job.id, object: 'chat.completion.chunk', created, model: ctx.modelName };
  const chunk = (choices: unknown[]): unknown => ({ ...head, choices, ...(includeUsage ? { usage: null } : {}) });
  return {
    start: () => Array.from({ length: n }, (_, index) =>
      chunk([{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }])),
    delta: ({ delta }) => {
      const lps = body.logprobs ? { content: logprobsContent(ctx, delta.logprobs ?? []) } : null;
      if (delta.text === '' && !delta.finishReason && (lps?.content.length ?? 0) === 0) return [];
      const d = delta.text !== '' || !delta.finishReason ? { content: delta.text } : {};
      return [chunk([{ index: delta.index, delta: d, logprobs: lps, finish_reason: openAiFinishReason(delta.finishReason) }])];
    },
    end: () => (includeUsage ? [{ ...head, choices: [], usage: usageBody(job.usage) }] : []),
  };
}

export async function handleChat(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const body = parseBody(chatRequestSchema, request.body);
  if (body.model !== ctx.modelName) throw unknownModel(body.model, ctx.modelName);
  const info = requireReady(ctx.client);
  checkUnsupported(body);
  const param = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const maxTokens = checkMaxTokens(body.max_completion_tokens ?? body.max_tokens ?? info.maxOutputLen, info, param);
  const params = toSamplingParams(body, maxTokens, body.logprobs ? (body.top_logprobs ?? 0) : undefined);
  const prompt = chatPrompt(ctx, body);
  checkPromptLength(prompt.tokenIds, info, 'messages');
  const job = startJob(ctx, [prompt], params, 'chatcmpl');
  setRequestUsage(request, job.usage);
  cancelOnDisconnect(reply.raw, job);
  const created = Math.floor(Date.now() / 1000);
  if (body.stream) {
    await streamJob(reply, job, chatChunks(ctx, body, job, created));
    return reply;
  }
  const choices = (await collectJob(job, body.n ?? 1)).map((o, index) => ({
    index,
    message: { role: 'assistant', content: o.text },
    logprobs: body.logprobs ? { content: logprobsContent(ctx, o.logprobs) } : null,
    finish_reason: openAiFinishReason(o.finishReason),
  }));
  return { id: job.id, object: 'chat.completion', created, model: ctx.modelName, choices, usage: usageBody(job.usage) };
}
