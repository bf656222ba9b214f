/**
 * An engine worker around FakeEngine whose prompt containing '~' drills a tensor-parallel failure.
 * engineDir picks the drill:
 *   'x'              the failure is reported directly (reportTensorParallelFailure)
 *   'group:die'      a real GpuGroupContext (fake contexts, real links) whose rank 0 step hangs as in
 *                    an NCCL collective; rank 1 dies mid-step
 *   'group:silent'   the same, rank 1 alive but silent: the step watchdog (150 ms) fails the group
 */
import { workerData } from 'node:worker_threads';
import type { RequestDelta } from '../../src/runtime/api.js';
import type { EngineRequest } from '../../src/server/engine-client.js';
import { serveWorker } from '../../src/server/worker-loop.js';
import { reportTensorParallelFailure } from '../../src/tp/gpu-group.js';
import { FAKE_INFO, FakeEngine } from '../server/fake-engine.js';
import { GREEDY, startFakeGpuGroup, step, type FakeGpuGroup } from './fake-gpu-group.js';

class RankDeathFake extends FakeEngine {
  constructor(private readonly tp?: FakeGpuGroup, private readonly crash = false) { super(); }

  override async *submit(request: EngineRequest): AsyncIterable<RequestDelta> {
    if (request.promptTokenIds?.includes(126)) {
      if (!this.tp) {
        setTimeout(() => reportTensorParallelFailure('tensor-parallel rank 1 lost its link to rank 0 (link closed): the rank process died or was killed'), 20);
      } else {
        const pending = this.tp.group.enqueueAndSample!(step(1), [GREEDY]);
        if (this.crash) setTimeout(() => this.tp?.group.crashRank(1), 20);
        await pending.done(); // never resolves on its own: the group must reject it
      }
    }
    yield* super.submit(request);
  }
}

const options = workerData as { engineDir: string; modelName?: string };
void serveWorker(async () => {
  const mode = options.engineDir;
  const tp = mode.startsWith('group:')
    ? await startFakeGpuGroup({ tpSize: 2, stuck: true, ...(mode === 'group:silent' ? { silentRanks: [1], stepTimeoutMs: 150 } : {}) })
    : undefined;
  const engine = new RankDeathFake(tp, mode === 'group:die');
  engine.tokenDelayMs = 2;
  return { core: engine, modelInfo: { ...FAKE_INFO, name: options.modelName ?? 'fake' }, dispose: () => tp?.group.dispose() };
});
