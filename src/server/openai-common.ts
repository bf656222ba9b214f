/**
 * Pieces shared by the OpenAI routes: body validation with OpenAI-style messages, finish
 * reasons, usage, and the streaming driver (SSE chunks ending in `data: [DONE]`).
 */
import type { FastifyReply } from 'fastify';
import type { z } from 'zod';
import type { FinishReason } from '../runtime/api.js';
import { ApiError, openAiErrorBody, toApiError } from './errors.js';
import type { Job, JobDelta, JobUsage } from './generation.js';
import { openSse, primeStream, type SseWriter } from './sse.js';

/** Parses a body or throws a 400 naming the offending field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(400, 'The request body must be a JSON object.');
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new ApiError(400, 'Invalid request body.');
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const where = issue.path.length > 0 ? ` in '${issue.path.join('.')}'` : '';
    throw new ApiError(400, `Unrecognized request argument supplied: ${key}${where}. Remove it.`, { param: key });
  }
  const param = issue.path.map(String).join('.') || null;
  const received = issue.code === 'invalid_type' ? ` (got ${describe(valueAt(body, issue.path))})` : '';
  throw new ApiError(400, `Invalid value for '${param ?? 'body'}': ${issue.message}${received}.`, { param });
}

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = body;
  for (const key of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined;
  return v;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  return Array.isArray(v) ? 'an array' : typeof v;
}

export function openAiFinishReason(reason: FinishReason | null | undefined): string | null {
  if (reason === undefined || reason === null) return null;
  if (reason === 'cancelled') return 'abort';
  return reason;
}

export function usageBody(usage: JobUsage): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return {
    prompt_tokens: usage.numPromptTokens,
    completion_tokens: usage.numCompletionTokens,
    total_tokens: usage.numPromptTokens + usage.numCompletionTokens,
  };
}

export interface StreamFormatter {
  /** Chunks to send before the first delta (e.g. chat's role chunks). */
  start(): unknown[];
  /** Chunks for one delta. */
  delta(d: JobDelta): unknown[];
  /** The usage chunk (include_usage) or nothing. */
  end(): unknown[];
}

/**
 * Streams a job as SSE. Errors before the first delta become an HTTP error (thrown); errors
 * after it become an `error` event followed by `data: [DONE]`.
 */
export async function streamJob(reply: FastifyReply, job: Job, format: StreamFormatter, done = true): Promise<void> {
  let deltas: AsyncIterable<JobDelta>;
  try {
    deltas = await primeStream(job.deltas);
  } catch (err) {
    throw toApiError(err);
  }
  const sse: SseWriter = openSse(reply);
  try {
    for (const chunk of format.start()) sse.send(chunk);
    for await (const d of deltas) {
      for (const chunk of format.delta(d)) sse.send(chunk);
      if (d.delta.finishReason === 'error') throw new ApiError(500, `The engine failed the request: ${d.delta.error ?? 'unknown error'}`);
    }
    for (const chunk of format.end()) sse.send(chunk);
  } catch (err) {
    job.cancel();
    const apiError = toApiError(err);
    reply.log.warn({ err: apiError.message }, 'stream failed after it started');
    sse.send(openAiErrorBody(apiError));
  }
  if (done) sse.send('[DONE]');
  sse.end();
}
