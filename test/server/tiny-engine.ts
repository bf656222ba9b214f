/** Builds the embedded tiny model into an engine (write → convert → build), as users would. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFromCheckpoint } from '../../src/builder/build-command.js';
import { convertCheckpoint } from '../../src/checkpoint/convert.js';
import { writeTinyModel } from '../../src/checkpoint/tiny-model.js';

/** Limits small enough to test "over the limit" cheaply; batch big enough for the load test. */
export const TINY_LIMITS = { maxBatchSize: 32, maxInputLen: 64, maxOutputLen: 32, maxNumTokens: 512 };

export interface TinyEngine {
  readonly engineDir: string;
  cleanup(): void;
}

export async function buildTinyEngine(): Promise<TinyEngine> {
  const root = mkdtempSync(join(tmpdir(), 'kiln-server-'));
  await writeTinyModel(join(root, 'hf'));
  await convertCheckpoint({ modelDir: join(root, 'hf'), outputDir: join(root, 'ckpt'), dtype: 'float32' });
  await buildFromCheckpoint({ checkpointDir: join(root, 'ckpt'), outputDir: join(root, 'tiny'), target: 'cpu', settings: TINY_LIMITS });
  return { engineDir: join(root, 'tiny'), cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
