/**
 * `startServer`: what `kiln serve` runs. Starts the engine worker, listens at once (/health is
 * 503 until the engine is loaded), and on SIGTERM/SIGINT drains: new requests get 503,
 * in-flight ones finish (up to the drain timeout), then the process exits 0.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { buildFromCheckpoint } from '../builder/build-command.js';
import { convertCheckpoint } from '../checkpoint/convert.js';
import { ConfigError } from '../errors/index.js';
import { loadTokenizer } from '../tokenizer/index.js';
import { createServer, type KilnServer } from './app.js';
import type { EngineClient } from './engine-client.js';
import { createInProcessClient, modelNameOf } from './load-engine.js';
import { WorkerEngineClient } from './worker-client.js';

/** How long close() waits for open connections after the drain before dropping them. */
const CLOSE_GRACE_MS = 2_000;

export interface StartServerOptions {
  /** Engine directory written by `kiln build`. Exactly one of engineDir / modelDir. */
  readonly engineDir?: string;
  /** Hugging Face model directory: converted and built (CPU, float32) into `cacheDir` on first use. */
  readonly modelDir?: string;
  readonly host?: string;
  /** 0 picks a free port (see `RunningServer.port`). */
  readonly port?: number;
  readonly apiKey?: string;
  readonly maxQueue?: number;
  readonly backend?: string;
  readonly kvCacheBytes?: number;
  readonly modelName?: string;
  /** Where --model_dir builds go (default ~/.cache/kiln/engines or $KILN_CACHE_DIR). */
  readonly cacheDir?: string;
  readonly drainTimeoutMs?: number;
  readonly maxBodyBytes?: number;
  readonly logger?: Logger | false;
  /** Install SIGTERM/SIGINT handlers that drain and exit the process (default true). */
  readonly handleSignals?: boolean;
  /** Run the engine on the main thread instead of a worker (default false). */
  readonly inProcess?: boolean;
}

export interface RunningServer {
  readonly app: KilnServer;
  readonly client: EngineClient;
  readonly url: string;
  readonly port: number;
  /** Drains, closes the HTTP server and the engine. Idempotent. */
  shutdown(): Promise<void>;
}

function cacheKey(modelDir: string): string {
  const config = statSync(join(modelDir, 'config.json'));
  return createHash('sha256').update(`${resolve(modelDir)}\n${config.mtimeMs}\n${config.size}`).digest('hex').slice(0, 16);
}

/** Converts and builds `modelDir` into the cache unless an engine for it is there already. */
export async function ensureEngine(modelDir: string, cacheDir: string, log: Logger): Promise<string> {
  if (!existsSync(join(modelDir, 'config.json'))) {
    throw new ConfigError(`${modelDir} has no config.json: --model_dir must be a Hugging Face model directory.`);
  }
  const root = join(cacheDir, `${basename(resolve(modelDir))}-${cacheKey(modelDir)}`);
  const engineDir = join(root, 'engine');
  if (existsSync(join(engineDir, 'config.json'))) return engineDir;
  const tmp = `${root}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  log.info({ modelDir, cache: root }, 'first use of this model: converting and building an engine');
  await convertCheckpoint({ modelDir, outputDir: join(tmp, 'checkpoint'), dtype: 'float32' });
  await buildFromCheckpoint({
    checkpointDir: join(tmp, 'checkpoint'), outputDir: join(tmp, 'engine'), target: 'cpu', settings: {},
    onLog: (line: string) => log.info(`[build] ${line}`),
  });
  rmSync(root, { recursive: true, force: true });
  renameSync(tmp, root);
  return engineDir;
}

export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const log = options.logger === false ? pino({ level: 'silent' }) : (options.logger ?? pino());
  if (!options.engineDir === !options.modelDir) throw new ConfigError('startServer needs exactly one of engineDir or modelDir.');
  const cacheDir = options.cacheDir ?? process.env.KILN_CACHE_DIR ?? join(homedir(), '.cache', 'kiln', 'engines');
  const engineDir = options.engineDir ?? (await ensureEngine(options.modelDir as string, cacheDir, log));
  const modelName = options.modelName ?? modelNameOf({ engineDir: options.modelDir ?? engineDir });
  const tokenizer = loadTokenizer(engineDir);
  const load = {
    engineDir, modelName,
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.kvCacheBytes ? { kvCacheBytes: options.kvCacheBytes } : {}),
  };
  const client: EngineClient = options.inProcess ? await createInProcessClient(load) : new WorkerEngineClient(load);
  const app = createServer({
    client, tokenizer, modelName, logger: log,
    ...(options.apiKey ? { apiKey: options.apiKey } : {}),
    ...(options.maxQueue ? { maxQueue: options.maxQueue } : {}),
    ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}),
    ...(options.drainTimeoutMs !== undefined ? { drainTimeoutMs: options.drainTimeoutMs } : {}),
  });
  client.ready.then(
    (info) => log.info({ model: info.name, maxInputLen: info.maxInputLen, maxOutputLen: info.maxOutputLen }, 'engine ready'),
    (err: unknown) => log.error({ err: String(err) }, 'engine failed to load; /health answers 503'),
  );
  const host = options.host ?? '127.0.0.1';
  await app.listen({ host, port: options.port ?? 8000 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 8000);
  let closing: Promise<void> | undefined;
  const shutdown = (): Promise<void> => (closing ??= (async () => {
    const clean = await app.kiln.drain();
    log.info({ clean }, clean ? 'drained: every in-flight request finished' : 'drain timed out: remaining requests cancelled');
    // Streams whose engine work is done may still be writing their last chunks: close() waits
    // for them; a connection that never finishes (a half-sent body) is dropped after a grace period.
    const force = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
    await app.close();
    clearTimeout(force);
    await client.close();
  })());
  if (options.handleSignals ?? true) installSignalHandlers(shutdown, log);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info({ url, model: modelName }, 'kiln serve listening');
  return { app, client, url, port, shutdown };
}

function installSignalHandlers(shutdown: () => Promise<void>, log: Logger): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting without waiting for in-flight requests');
      process.exit(1);
    }
    signalled = true;
    log.info({ signal }, 'shutting down: refusing new requests, finishing in-flight ones');
    shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: String(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
