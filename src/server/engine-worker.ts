/**
 * The engine worker's entry: loads the engine named by `workerData` (EngineLoadOptions) and
 * serves protocol.ts messages. Started by `WorkerEngineClient`; never imported elsewhere.
 */
import { workerData } from 'node:worker_threads';
import { loadEngineCore } from './load-engine.js';
import type { EngineLoadOptions } from './protocol.js';
import { serveWorker } from './worker-loop.js';

void serveWorker(() => loadEngineCore(workerData as EngineLoadOptions));
