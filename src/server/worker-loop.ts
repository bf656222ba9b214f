/**
 * The worker side of protocol.ts: loads an `EngineCore` and serves `ToWorker` messages with
 * `FromWorker` answers. engine-worker.ts runs it with the real engine.
 */
import { parentPort } from 'node:worker_threads';
import type { EngineCore } from './engine-client.js';
import { toWireError } from './errors.js';
import type { LoadedEngineCore } from './load-engine.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { onTensorParallelFailure } from '../tp/gpu-group.js';

function post(message: FromWorker): void {
  parentPort?.postMessage(message);
}

async function run(core: EngineCore, message: Extract<ToWorker, { type: 'submit' }>): Promise<void> {
  try {
    for await (const delta of core.submit(message.request)) post({ type: 'delta', id: message.id, delta });
    post({ type: 'end', id: message.id });
  } catch (err) {
    post({ type: 'error', id: message.id, error: toWireError(err) });
  }
}

function onMessage(loaded: LoadedEngineCore, message: ToWorker): void {
  const { core } = loaded;
  switch (message.type) {
    case 'submit': void run(core, message); break;
    case 'cancel': core.cancel(message.id); break;
    case 'stats':
      try {
        post({ type: 'stats', seq: message.seq, stats: core.stats() });
      } catch (err) {
        post({ type: 'stats', seq: message.seq, stats: null, error: toWireError(err) });
      }
      break;
    case 'close':
      void Promise.resolve()
        .then(() => loaded.dispose())
        .finally(() => {
          post({ type: 'closed' });
          parentPort?.close();
        });
      break;
  }
}

export async function serveWorker(load: () => Promise<LoadedEngineCore>): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('serveWorker must run in a worker thread');
  let loaded: LoadedEngineCore;
  try {
    loaded = await load();
  } catch (err) {
    post({ type: 'load_error', error: toWireError(err) });
    return;
  }
  onTensorParallelFailure((message) => post({ type: 'fatal', message }));
  port.on('message', (message: ToWorker) => onMessage(loaded, message));
  post({ type: 'ready', modelInfo: loaded.modelInfo });
}
