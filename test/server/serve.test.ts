/** startServer with --model_dir: converts and builds into the cache once, then reuses it. */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, expect, it } from 'vitest';
import { writeTinyModel } from '../../src/checkpoint/tiny-model.js';
import { ensureEngine, startServer } from '../../src/server/serve.js';
import { postJson } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-serve-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('builds a model directory into the cache on first use and serves it (engine in-process)', async () => {
  const modelDir = join(root, 'my-model');
  await writeTinyModel(modelDir);
  const cacheDir = join(root, 'cache');
  const server = await startServer({ modelDir, cacheDir, port: 0, handleSignals: false, logger: false, inProcess: true });
  try {
    const r = await postJson(`${server.url}/v1/completions`, { model: 'my-model', prompt: 'hi', max_tokens: 3, temperature: 0 });
    expect(r.status).toBe(200);
    expect((r.body.usage as { completion_tokens: number }).completion_tokens).toBeGreaterThan(0);
  } finally {
    await server.shutdown();
  }
  const log = pino({ level: 'silent' });
  const engineDir = await ensureEngine(modelDir, cacheDir, log);
  const built = statSync(join(engineDir, 'config.json')).mtimeMs;
  expect(await ensureEngine(modelDir, cacheDir, log)).toBe(engineDir);
  expect(statSync(join(engineDir, 'config.json')).mtimeMs).toBe(built);
  await expect(ensureEngine(root, cacheDir, log)).rejects.toThrow(/has no config.json/);
});
