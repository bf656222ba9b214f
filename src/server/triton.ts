/**
 * Triton's generate extension as TensorRT-LLM's ensemble serves it:
 * POST /v2/models/{model}/generate[_stream], GET /v2/models/{model}[/ready], /v2/health/{live,ready}.
 * Errors here use Triton's shape `{ "error": "message" }` (what Triton clients and genai-perf read).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SamplingParams } from '../runtime/api.js';
import { ApiError, toApiError } from './errors.js';
import { cancelOnDisconnect, checkPromptLength, collectJob, requireReady, startJob, type ServerContext } from './generation.js';
import { parseBody } from './openai-common.js';
import { setRequestUsage } from './request-log.js';
import { checkMaxTokens, stopList } from './sampling.js';
import { tritonGenerateSchema, type TritonGenerateRequest } from './schemas.js';
import { openSse, primeStream } from './sse.js';

const MODEL_VERSION = '1';
const DEFAULT_MAX_TOKENS = 16;

function toParams(body: TritonGenerateRequest, maxNewTokens: number): SamplingParams {
  if (body.bad_words && stopList(body.bad_words).length > 0) {
    throw new ApiError(400, "'bad_words' is not supported by this server; remove it.", { param: 'bad_words' });
  }
  if (body.beam_width != null && body.beam_width > 1) {
    throw new ApiError(400, "'beam_width' > 1 is not supported by this server's generate endpoint; use 1.", { param: 'beam_width' });
  }
  const stop = stopList(body.stop_words);
  const entries = Object.entries({
    maxNewTokens,
    minTokens: body.min_tokens ?? body.min_length,
    temperature: body.temperature,
    topK: body.top_k,
    topP: body.top_p === 0 ? undefined : body.top_p,
    seed: body.seed ?? body.random_seed,
    repetitionPenalty: body.repetition_penalty,
    presencePenalty: body.presence_penalty,
    frequencyPenalty: body.frequency_penalty,
    stop: stop.length > 0 ? stop : undefined,
    stopTokenIds: body.end_id != null ? [body.end_id] : undefined,
  });
  return Object.fromEntries(entries.filter(([, v]) => v !== undefined && v !== null)) as SamplingParams;
}

async function generate(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, stream: boolean): Promise<unknown> {
  const { model } = request.params as { model: string };
  if (model !== ctx.modelName) throw new ApiError(404, `Unknown model '${model}'; this server serves '${ctx.modelName}'.`);
  const body = parseBody(tritonGenerateSchema, request.body);
  const info = requireReady(ctx.client);
  if (body.text_input.length === 0) throw new ApiError(400, "'text_input' must not be empty.", { param: 'text_input' });
  const maxTokens = checkMaxTokens(body.max_tokens ?? Math.min(DEFAULT_MAX_TOKENS, info.maxOutputLen), info, 'max_tokens');
  const params = toParams(body, maxTokens);
  const tokenIds = ctx.tokenizer.encode(body.text_input);
  checkPromptLength(tokenIds, info, 'text_input');
  const job = startJob(ctx, [{ tokenIds, text: body.text_input }], params, 'triton');
  setRequestUsage(request, job.usage);
  cancelOnDisconnect(reply.raw, job);
  const head = { model_name: ctx.modelName, model_version: MODEL_VERSION, ...(body.id != null ? { id: body.id } : {}) };
  if (!(stream || body.stream)) {
    const [out] = await collectJob(job, 1);
    const prefix = body.exclude_input_in_output ? '' : body.text_input;
    return { ...head, text_output: prefix + (out?.text ?? '') };
  }
  let deltas;
  try {
    deltas = await primeStream(job.deltas);
  } catch (err) {
    throw toApiError(err);
  }
  const sse = openSse(reply);
  try {
    for await (const { delta } of deltas) {
      if (delta.finishReason === 'error') throw new ApiError(500, `The engine failed the request: ${delta.error ?? 'unknown error'}`);
      if (delta.text !== '' || delta.finishReason) sse.send({ ...head, text_output: delta.text });
    }
  } catch (err) {
    job.cancel();
    sse.send({ error: toApiError(err).message });
  }
  sse.end();
  return reply;
}

function metadata(ctx: ServerContext): unknown {
  const tensor = (name: string, datatype: string): unknown => ({ name, datatype, shape: [-1, -1] });
  return {
    name: ctx.modelName,
    versions: [MODEL_VERSION],
    platform: 'ensemble',
    inputs: [
      tensor('text_input', 'BYTES'), tensor('max_tokens', 'INT32'), tensor('temperature', 'FP32'),
      tensor('top_k', 'INT32'), tensor('top_p', 'FP32'), tensor('seed', 'UINT64'), tensor('stop_words', 'BYTES'),
      tensor('end_id', 'INT32'), tensor('pad_id', 'INT32'), tensor('stream', 'BOOL'),
    ],
    outputs: [tensor('text_output', 'BYTES')],
  };
}

function isReady(ctx: ServerContext): boolean {
  return ctx.client.modelInfo !== null && ctx.client.failure === null && !ctx.admission.isDraining;
}

export function registerTritonRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v2/models/:model/generate', (req, reply) => generate(ctx, req, reply, false));
  app.post('/v2/models/:model/generate_stream', (req, reply) => generate(ctx, req, reply, true));
  app.get('/v2/health/live', async (_req, reply) => reply.code(200).send());
  app.get('/v2/health/ready', async (_req, reply) => reply.code(isReady(ctx) ? 200 : 503).send());
  app.get('/v2/models/:model', async (req) => {
    const { model } = req.params as { model: string };
    if (model !== ctx.modelName) throw new ApiError(404, `Unknown model '${model}'; this server serves '${ctx.modelName}'.`);
    return metadata(ctx);
  });
  app.get('/v2/models/:model/ready', async (req, reply) => {
    const { model } = req.params as { model: string };
    if (model !== ctx.modelName) throw new ApiError(404, `Unknown model '${model}'; this server serves '${ctx.modelName}'.`);
    return reply.code(isReady(ctx) ? 200 : 503).send();
  });
}
