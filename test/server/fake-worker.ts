/** A worker speaking protocol.ts around FakeEngine; a prompt containing '#' kills the worker. */
import { workerData } from 'node:worker_threads';
import type { EngineRequest } from '../../src/server/engine-client.js';
import { serveWorker } from '../../src/server/worker-loop.js';
import { FAKE_INFO, FakeEngine } from './fake-engine.js';

class CrashingFake extends FakeEngine {
  override submit(request: EngineRequest) {
    if (request.promptTokenIds?.includes(35)) setTimeout(() => process.exit(3), 20);
    return super.submit(request);
  }
}

const options = workerData as { modelName?: string; engineDir: string };
void serveWorker(async () => {
  if (options.engineDir === 'fail') throw new Error('no such engine');
  const engine = new CrashingFake();
  engine.tokenDelayMs = 2;
  return { core: engine, modelInfo: { ...FAKE_INFO, name: options.modelName ?? 'fake' }, dispose: () => undefined };
});
