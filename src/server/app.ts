/**
 * `createServer`: the fastify app of `kiln serve` (routes, auth, errors, admission, metrics,
 * request logs) around an `EngineClient`. It does not own the client: whoever created the
 * client closes it (see serve.ts).
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { pino, type Logger } from 'pino';
import type { TextTokenizer } from '../tokenizer/types.js';
import { AdmissionManager } from './admission.js';
import type { EngineClient } from './engine-client.js';
import { ApiError, openAiErrorBody, toApiError } from './errors.js';
import type { ServerContext } from './generation.js';
import { ServerMetrics } from './metrics.js';
import { handleChat } from './openai-chat.js';
import { handleCompletion } from './openai-completions.js';
import { installRequestLog } from './request-log.js';
import { registerTritonRoutes } from './triton.js';

export interface CreateServerOptions {
  readonly client: EngineClient;
  /** Main-thread tokenizer: prompt tokenization, limits, the chat template, logprob token text. */
  readonly tokenizer: TextTokenizer;
  /** The name clients pass as `model`. */
  readonly modelName: string;
  /** When set, /v1/* and /v2/models/* require `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  /** Engine requests admitted at once (waiting + running) before 429 (default 512). */
  readonly maxQueue?: number;
  /** Largest request body in bytes before 413 (default 4 MiB). */
  readonly maxBodyBytes?: number;
  /** How long `drain()` waits for in-flight requests before cancelling them (default 30 s). */
  readonly drainTimeoutMs?: number;
  /** pino logger for request logs; a pino logger to stdout when absent, none when false. */
  readonly logger?: Logger | false;
}

export interface KilnControls {
  readonly admission: AdmissionManager;
  readonly metrics: ServerMetrics;
  /** Stops admitting (new requests 503), waits for in-flight ones up to the drain timeout, cancels the rest. */
  drain(timeoutMs?: number): Promise<boolean>;
}

export type KilnServer = FastifyInstance & { readonly kiln: KilnControls };

const OPEN_PATHS = new Set(['/health', '/metrics', '/v2/health/live', '/v2/health/ready']);

function sendError(request: FastifyRequest, reply: FastifyReply, err: ApiError): FastifyReply {
  reply.code(err.status).headers(err.headers);
  const triton = request.url.startsWith('/v2/');
  return reply.send(triton ? { error: err.message } : openAiErrorBody(err));
}

function fastifyErrorToApi(err: FastifyError, maxBodyBytes: number): ApiError {
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new ApiError(413, `The request body is larger than the server's limit of ${maxBodyBytes} bytes.`);
  }
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new ApiError(415, 'Unsupported Content-Type: send a JSON body with Content-Type: application/json.', { code: 'unsupported_media_type' });
  }
  if (err.statusCode === 400 && (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError)) {
    return new ApiError(400, `The request body is not valid JSON: ${err.message}`, { code: 'invalid_json' });
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return new ApiError(err.statusCode, err.message);
  }
  return toApiError(err);
}

function installGuards(app: FastifyInstance, ctx: ServerContext, apiKey: string | undefined): void {
  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    if (apiKey !== undefined && !OPEN_PATHS.has(path) && (path.startsWith('/v1/') || path.startsWith('/v2/'))) {
      if (request.headers.authorization !== `Bearer ${apiKey}`) {
        const missing = request.headers.authorization === undefined;
        return sendError(request, reply, new ApiError(401, missing
          ? 'Missing API key: send Authorization: Bearer <key>.'
          : 'Incorrect API key provided in the Authorization header.'));
      }
    }
    if (ctx.admission.isDraining && path !== '/metrics' && path !== '/v2/health/live') {
      return sendError(request, reply, new ApiError(503, 'The server is shutting down and accepts no new requests.', { code: 'draining' }));
    }
    return undefined;
  });
}

function registerOps(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/health', async (_request, reply) => {
    const { client, admission } = ctx;
    if (client.failure !== null) return reply.code(503).send({ status: 'failed', message: client.failure });
    if (admission.isDraining) return reply.code(503).send({ status: 'draining', message: 'The server is shutting down.' });
    if (client.modelInfo === null) return reply.code(503).send({ status: 'loading', message: 'The engine is loading.' });
    return { status: 'ok', model: ctx.modelName };
  });
  app.get('/metrics', async (_request, reply) => {
    ctx.metrics.admitted.set(ctx.admission.numInFlight);
    if (ctx.client.modelInfo !== null && ctx.client.failure === null) {
      try {
        ctx.metrics.refreshEngine(await ctx.client.stats());
      } catch (err) {
        reply.log.warn({ err: String(err) }, 'engine stats unavailable for /metrics');
      }
    }
    return reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
  const modelCard = (): unknown => ({
    id: ctx.modelName, object: 'model', created: 0, owned_by: 'kiln',
    ...(ctx.client.modelInfo ? { max_model_len: ctx.client.modelInfo.maxInputLen + ctx.client.modelInfo.maxOutputLen, vocab_size: ctx.client.modelInfo.vocabSize } : {}),
  });
  app.get('/v1/models', async () => ({ object: 'list', data: [modelCard()] }));
  app.get('/v1/models/:model', async (request) => {
    const { model } = request.params as { model: string };
    if (model !== ctx.modelName) throw new ApiError(404, `The model '${model}' does not exist; this server serves '${ctx.modelName}'.`, { code: 'model_not_found' });
    return modelCard();
  });
}

export function createServer(options: CreateServerOptions): KilnServer {
  const maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const logger = options.logger === false ? pino({ level: 'silent' }) : (options.logger ?? pino());
  const app: FastifyInstance = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: maxBodyBytes,
    // close() waits for responses still being written and drops idle keep-alive connections.
    forceCloseConnections: 'idle',
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
  });
  const admission = new AdmissionManager(options.maxQueue ?? 512);
  const metrics = new ServerMetrics();
  const ctx: ServerContext = { client: options.client, tokenizer: options.tokenizer, modelName: options.modelName, admission, metrics };
  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
  const controls: KilnControls = { admission, metrics, drain: (timeoutMs) => admission.drain(timeoutMs ?? drainTimeoutMs) };
  app.decorate('kiln', controls);
  installGuards(app, ctx, options.apiKey);
  installRequestLog(app, metrics);
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const apiError = err instanceof ApiError ? err : fastifyErrorToApi(err, maxBodyBytes);
    if (apiError.status >= 500) request.log.error({ err }, 'request failed');
    return sendError(request, reply, apiError);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new ApiError(404, `Unknown route: ${request.method} ${request.url.split('?')[0]}.`)));
  registerOps(app, ctx);
  app.post('/v1/completions', (request, reply) => handleCompletion(ctx, request, reply));
  app.post('/v1/chat/completions', (request, reply) => handleChat(ctx, request, reply));
  registerTritonRoutes(app, ctx);
  return app as unknown as KilnServer;
}
