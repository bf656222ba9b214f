/** An engine worker around FakeEngine whose prompt containing '~' drills a tensor-parallel rank death. */
import { workerData } from 'node:worker_threads';
import type { EngineRequest } from '../../src/server/engine-client.js';
import { serveWorker } from '../../src/server/worker-loop.js';
import { reportTensorParallelFailure } from '../../src/tp/gpu-group.js';
import { FAKE_INFO, FakeEngine } from '../server/fake-engine.js';

class RankDeathFake extends FakeEngine {
  override submit(request: EngineRequest) {
    if (request.promptTokenIds?.includes(126)) setTimeout(() => reportTensorParallelFailure('tensor-parallel rank 1 lost its link to rank 0 (link closed): the rank process died or was killed'), 20);
    return super.submit(request);
  }
}

const options = workerData as { modelName?: string };
void serveWorker(async () => {
  const engine = new RankDeathFake();
  engine.tokenDelayMs = 2;
  return { core: engine, modelInfo: { ...FAKE_INFO, name: options.modelName ?? 'fake' }, dispose: () => undefined };
});
