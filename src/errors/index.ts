/**
 * Base of every user-facing error. `code` is stable (the server maps it to an HTTP status);
 * the message says what went wrong and what to do about it.
 */
export class KilnError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A configuration value is missing, malformed or unsupported. */
export class ConfigError extends KilnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_config', message, options);
  }
}

/** Shapes or dtypes of an op's inputs do not fit together. */
export class ShapeError extends KilnError {
  constructor(message: string) {
    super('shape_mismatch', message);
  }
}

/** A checkpoint is missing a tensor, has a wrong shape, or cannot be read. */
export class CheckpointError extends KilnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_checkpoint', message, options);
  }
}

/** An engine file is truncated, corrupt, of another version or another target. */
export class EngineLoadError extends KilnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_engine', message, options);
  }
}

/** A request cannot be served as asked (prompt too long, bad sampling parameters, ...). */
export class RequestError extends KilnError {
  readonly param: string | null;
  constructor(message: string, param: string | null = null, code = 'invalid_request') {
    super(code, message);
    this.param = param;
  }
}

/** A backend is unknown or cannot start on this machine (no GPU, no driver, ...). */
export class BackendError extends KilnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('backend_unavailable', message, options);
  }
}
