/**
 * A GPU tensor-parallel group with fake contexts over real TCP links (no GPU, no NCCL), for the
 * hang drills: rank 0's step can be made to never complete (as its stream would, waiting in an
 * NCCL collective for a dead rank), a rank can be silent (connected, loaded, never acks a step),
 * and `aborts` counts the launcher's abortLocal (ncclCommAbort on a GPU).
 */
import type { ExecutionContext, HostTensor, KvCacheSpec, PendingStep, RowSampling, SampledStep, StepInputs } from '../../src/backends/types.js';
import { GpuGroupContext, type GpuGroupLauncher } from '../../src/tp/gpu-group.js';
import { connectToMaster, RankLink, type FromGpuRank, type ToGpuRank } from '../../src/tp/link.js';
import { runRankProcess } from '../../src/tp/rank-process.js';

const KV: KvCacheSpec = { numLayers: 2, numKvHeads: 2, headDim: 4, numBlocks: 8, tokensPerBlock: 16, dtype: 'float32' };
const ID = new Uint8Array(128).fill(7);

export const GREEDY: RowSampling = { temperature: 0, topK: 0, topP: 1, minP: 0, uniform: 0 };

export const step = (id: number): StepInputs => ({ tensors: { input_ids: { dtype: 'int32', shape: [1], data: Int32Array.of(id) } } });

/** A context with the async step path. `stuck`: done() never settles (the NCCL hang); else it resolves with token 42. */
export class AsyncFakeContext implements ExecutionContext {
  readonly sampleOnDevice = true;
  readonly steps: number[] = [];
  numWaits = 0;
  disposed = false;
  constructor(public stuck: boolean) {}
  run(s: StepInputs): Record<string, HostTensor> {
    this.steps.push((s.tensors['input_ids']!.data as Int32Array)[0]!);
    return { logits: { dtype: 'float32', shape: [1, 1], data: Float32Array.of(0) } };
  }
  enqueueAndSample(s: StepInputs): PendingStep<SampledStep> {
    this.run(s);
    return {
      done: () => {
        this.numWaits++;
        return this.stuck ? new Promise<SampledStep>(() => undefined) : Promise.resolve({ tokenIds: Int32Array.of(42) });
      },
    };
  }
  memoryUsage(): { weights: number; kvCache: number; activations: number } { return { weights: 0, kvCache: 0, activations: 0 }; }
  dispose(): void { this.disposed = true; }
}

/** A rank that joins and loads, then never acks (or fails) a step: alive but silent. */
async function runSilentRank(rank: number, port: number): Promise<void> {
  const link = new RankLink<ToGpuRank, FromGpuRank>(await connectToMaster('127.0.0.1', port));
  link.onMessage((m) => {
    if (m.type === 'init') link.send({ type: 'ready', rank });
    if (m.type === 'shutdown') link.close();
  });
  link.send({ type: 'hello', rank });
}

export interface FakeGpuGroup {
  readonly group: GpuGroupContext;
  readonly local: AsyncFakeContext;
  /** How often the group aborted rank 0's communicator. */
  aborts(): number;
  /** Fires the launcher's process-exit callbacks, as a rank process dying would. */
  exitRank(rank: number, code: number | null): void;
}

export async function startFakeGpuGroup(opts: { tpSize: number; stuck: boolean; silentRanks?: readonly number[]; stepTimeoutMs?: number }): Promise<FakeGpuGroup> {
  const local = new AsyncFakeContext(opts.stuck);
  const exitHandlers: ((rank: number, code: number | null) => void)[] = [];
  let aborts = 0;
  const launcher: GpuGroupLauncher = {
    createUniqueId: () => ID,
    createLocalContext: () => local,
    abortLocal: () => { aborts++; },
    startRanks: (port) => {
      for (let r = 1; r < opts.tpSize; r++) {
        if (opts.silentRanks?.includes(r)) { void runSilentRank(r, port); continue; }
        void runRankProcess({ rank: r, host: '127.0.0.1', port, createContext: () => new AsyncFakeContext(false), exit: () => undefined });
      }
      return { stop: () => undefined, onExit: (fn) => { exitHandlers.push(fn); } };
    },
  };
  const group = await GpuGroupContext.create({ engineDir: '/engines/tp', tpSize: opts.tpSize, kvCache: KV, startTimeoutMs: 5000, ...(opts.stepTimeoutMs !== undefined ? { stepTimeoutMs: opts.stepTimeoutMs } : {}) }, launcher);
  return { group, local, aborts: () => aborts, exitRank: (rank, code) => { for (const fn of exitHandlers) fn(rank, code); } };
}
