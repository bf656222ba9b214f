/**
 * Flag spelling: Kiln takes TensorRT-LLM's snake_case flags (`--max_batch_size`) and the
 * kebab-case spelling (`--max-batch-size`) alike. Options are declared snake_case; this
 * rewrites kebab-case names before commander parses them.
 */
export function normalizeFlags(argv: readonly string[]): string[] {
  return argv.map((arg) => {
    if (!arg.startsWith('--') || arg === '--') return arg;
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const rest = eq < 0 ? '' : arg.slice(eq);
    return `--${name.replace(/-/g, '_')}${rest}`;
  });
}

/** Parses a positive integer flag, naming the flag when it is not one. */
export function parsePositiveInt(flag: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${flag} must be a positive integer, got '${value}'`);
    return n;
  };
}

export function parseNonNegativeInt(flag: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${flag} must be a non-negative integer, got '${value}'`);
    return n;
  };
}

export function parseNumber(flag: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new Error(`--${flag} must be a number, got '${value}'`);
    return n;
  };
}

/** Commander collector for repeatable flags (`--prompt a --prompt b`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
