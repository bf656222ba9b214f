/**
 * Starts a rank worker from the compiled JS next to this module (dist/), or, when running from
 * the TypeScript sources (vitest, tsx), from rank-worker.ts through tsx's loader.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type TransferListItem } from 'node:worker_threads';
import type { RankWorkerData } from './protocol.js';

export function startRankWorker(data: RankWorkerData, transferList: readonly TransferListItem[]): Worker {
  const options = { workerData: data, transferList: [...transferList] };
  const js = fileURLToPath(new URL('./rank-worker.js', import.meta.url));
  if (existsSync(js)) return new Worker(js, options);
  const here = fileURLToPath(import.meta.url);
  const tsUrl = pathToFileURL(here.replace(/spawn\.ts$/, 'rank-worker.ts')).href;
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const bootstrap =
    `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(tsUrl)}); })` +
    '.catch((e) => { setImmediate(() => { throw e; }); });';
  return new Worker(bootstrap, { ...options, eval: true });
}
