/**
 * Script entry of the server: `tsx src/server/main.ts --engine_dir DIR [--port 8000] ...` or
 * `node dist/server/main.js ...`. The `kiln serve` CLI calls `startServer` the same way.
 */
import { parseArgs } from 'node:util';
import { startServer, type StartServerOptions } from './serve.js';

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got '${value}'`);
  return n;
}

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      engine_dir: { type: 'string' }, model_dir: { type: 'string' }, host: { type: 'string' },
      port: { type: 'string' }, api_key: { type: 'string' }, max_queue: { type: 'string' },
      backend: { type: 'string' }, drain_timeout_ms: { type: 'string' }, model_name: { type: 'string' },
    },
  });
  const options: StartServerOptions = {
    ...(values.engine_dir ? { engineDir: values.engine_dir } : {}),
    ...(values.model_dir ? { modelDir: values.model_dir } : {}),
    ...(values.host ? { host: values.host } : {}),
    ...(values.api_key ? { apiKey: values.api_key } : {}),
    ...(values.backend ? { backend: values.backend } : {}),
    ...(values.model_name ? { modelName: values.model_name } : {}),
    port: positiveInt('port', values.port) ?? 8000,
  };
  const maxQueue = positiveInt('max_queue', values.max_queue);
  const drainTimeoutMs = positiveInt('drain_timeout_ms', values.drain_timeout_ms);
  await startServer({
    ...options,
    ...(maxQueue !== undefined ? { maxQueue } : {}),
    ...(drainTimeoutMs !== undefined ? { drainTimeoutMs } : {}),
  });
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
