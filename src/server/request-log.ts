/**
 * One structured log line per request (reqId from the child logger, method, url, status, tokens,
 * latency) and the
 * request counter, both from fastify's onResponse hook. Generation routes attach their usage.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { JobUsage } from './generation.js';
import type { ServerMetrics } from './metrics.js';

const usages = new WeakMap<FastifyRequest, JobUsage>();

export function setRequestUsage(request: FastifyRequest, usage: JobUsage): void {
  usages.set(request, usage);
}

export function installRequestLog(app: FastifyInstance, metrics: ServerMetrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const endpoint = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    metrics.requests.inc({ endpoint, status: String(status) });
    const usage = usages.get(request);
    const fields = {
      method: request.method,
      url: request.url,
      status,
      latencyMs: Math.round(reply.elapsedTime * 100) / 100,
      ...(usage ? { promptTokens: usage.numPromptTokens, completionTokens: usage.numCompletionTokens } : {}),
      ...(reply.raw.writableFinished ? {} : { aborted: true }),
    };
    if (status >= 500) request.log.error(fields, 'request');
    else request.log.info(fields, 'request');
  });
}
