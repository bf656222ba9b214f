/**
 * Errors of the HTTP layer and their wire forms. `ApiError` carries its HTTP status; errors
 * crossing the worker boundary travel as `WireError` and come back as the same classes.
 */
import { KilnError, RequestError } from '../errors/index.js';

/** An error answered with a given HTTP status and OpenAI `type`. */
export class ApiError extends KilnError {
  readonly status: number;
  readonly param: string | null;
  readonly type: string;
  readonly headers: Readonly<Record<string, string>>;
  constructor(
    status: number,
    message: string,
    options: { code?: string; param?: string | null; type?: string; headers?: Record<string, string> } = {},
  ) {
    super(options.code ?? defaultCode(status), message);
    this.status = status;
    this.param = options.param ?? null;
    this.type = options.type ?? defaultType(status);
    this.headers = options.headers ?? {};
  }
}

/** The engine (worker) died or is not there: in-flight requests fail with it. */
export class EngineUnavailableError extends KilnError {
  constructor(message: string) {
    super('engine_unavailable', message);
  }
}

export interface WireError {
  readonly code: string;
  readonly message: string;
  readonly param: string | null;
}

function defaultCode(status: number): string {
  switch (status) {
    case 401: return 'invalid_api_key';
    case 404: return 'not_found';
    case 413: return 'request_too_large';
    case 429: return 'queue_full';
    case 503: return 'service_unavailable';
    default: return status >= 500 ? 'internal_error' : 'invalid_request';
  }
}

function defaultType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return status === 503 ? 'service_unavailable_error' : 'server_error';
  return 'invalid_request_error';
}

export function toWireError(err: unknown): WireError {
  if (err instanceof RequestError) return { code: err.code, message: err.message, param: err.param };
  if (err instanceof KilnError) return { code: err.code, message: err.message, param: null };
  return { code: 'internal_error', message: err instanceof Error ? err.message : String(err), param: null };
}

/** Codes the runtime uses for a request's own fault (anything else is the server's). */
const REQUEST_CODES = new Set(['invalid_request', 'context_length_exceeded', 'invalid_config']);

export function fromWireError(wire: WireError): KilnError {
  if (REQUEST_CODES.has(wire.code)) return new RequestError(wire.message, wire.param, wire.code);
  if (wire.code === 'engine_unavailable') return new EngineUnavailableError(wire.message);
  return new KilnError(wire.code, wire.message);
}

/** Maps any error to the API error answered for it. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof RequestError) return new ApiError(400, err.message, { code: err.code, param: err.param });
  if (err instanceof EngineUnavailableError) return new ApiError(500, err.message, { code: err.code });
  if (err instanceof KilnError) {
    const status = err.code === 'invalid_config' ? 400 : 500;
    return new ApiError(status, err.message, { code: err.code });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError(500, `Internal server error: ${message}`);
}

/** OpenAI's error body. */
export function openAiErrorBody(err: ApiError): { error: { message: string; type: string; param: string | null; code: string } } {
  return { error: { message: err.message, type: err.type, param: err.param, code: err.code } };
}
