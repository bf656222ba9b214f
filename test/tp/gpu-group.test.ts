/**
 * The GPU tensor-parallel group's process logic with fake contexts (no GPU, no NCCL): rank 0
 * listens, ranks connect over real TCP links, get the NCCL id, run every step rank 0 runs, and
 * shut down with it; a dead or failing rank puts the group into an error state naming it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ExecutionContext, HostTensor, KvCacheSpec, StepInputs } from '../../src/backends/types.js';
import { BackendError } from '../../src/errors/index.js';
import { GpuGroupContext, onTensorParallelFailure, type GpuGroupLauncher } from '../../src/tp/gpu-group.js';
import { runRankProcess } from '../../src/tp/rank-process.js';

const KV: KvCacheSpec = { numLayers: 2, numKvHeads: 2, headDim: 4, numBlocks: 8, tokensPerBlock: 16, dtype: 'float32' };
const ID = Uint8Array.from({ length: 128 }, (_, i) => (i * 37) & 0xff);

class FakeContext implements ExecutionContext {
  readonly steps: number[][] = [];
  disposed = false;
  failOnStep = -1;
  constructor(readonly rank: number) {}
  run(step: StepInputs): Record<string, HostTensor> {
    const ids = Array.from(step.tensors['input_ids']!.data as Int32Array);
    if (ids[0] === this.failOnStep) throw new Error(`rank ${this.rank} out of memory`);
    this.steps.push(ids);
    return { logits: { dtype: 'float32', shape: [1, 1], data: Float32Array.of(this.rank) } };
  }
  memoryUsage(): { weights: number; kvCache: number; activations: number } { return { weights: 1, kvCache: 2, activations: 3 }; }
  dispose(): void { this.disposed = true; }
}

const step = (id: number): StepInputs => ({ tensors: { input_ids: { dtype: 'int32', shape: [1], data: Int32Array.of(id) } } });

interface Harness {
  group: GpuGroupContext;
  ranks: FakeContext[];
  inits: { rank: number; uniqueId: Uint8Array; engineDir: string }[];
  exits: { rank: number; code: number }[];
  finished: Promise<void>[];
}

const open: GpuGroupContext[] = [];
afterEach(() => { for (const g of open.splice(0)) g.dispose(); });

/** tpSize ranks: rank 0 in the group, ranks 1.. as in-process rank loops over real sockets. */
async function startGroup(tpSize: number, options: { failLoad?: number } = {}): Promise<Harness> {
  const ranks = Array.from({ length: tpSize }, (_, r) => new FakeContext(r));
  const inits: Harness['inits'] = [];
  const exits: Harness['exits'] = [];
  const finished: Promise<void>[] = [];
  const launcher: GpuGroupLauncher = {
    createUniqueId: () => ID,
    createLocalContext: (uniqueId) => { inits.push({ rank: 0, uniqueId, engineDir: '' }); return ranks[0]!; },
    startRanks: (port) => {
      for (let r = 1; r < tpSize; r++) {
        finished.push(runRankProcess({
          rank: r, host: '127.0.0.1', port,
          createContext: (init) => {
            if (options.failLoad === r) throw new Error('no GPU 3');
            inits.push({ rank: r, uniqueId: init.uniqueId, engineDir: init.engineDir });
            return ranks[r]!;
          },
          exit: (code) => { exits.push({ rank: r, code }); },
        }));
      }
      return { stop: () => undefined, onExit: () => undefined };
    },
  };
  const group = await GpuGroupContext.create({ engineDir: '/engines/tp', tpSize, kvCache: KV, startTimeoutMs: 5000 }, launcher);
  open.push(group);
  return { group, ranks, inits, exits, finished };
}

const settle = (ms = 50): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('GPU tensor-parallel group (fake contexts)', () => {
  it('hands every rank the engine and rank 0\'s NCCL id, runs each step on all ranks, returns rank 0\'s outputs', async () => {
    const h = await startGroup(3);
    expect(h.inits.map((i) => i.rank).sort()).toEqual([0, 1, 2]);
    for (const i of h.inits) expect(Array.from(i.uniqueId)).toEqual(Array.from(ID));
    expect(h.inits.filter((i) => i.rank > 0).map((i) => i.engineDir)).toEqual(['/engines/tp', '/engines/tp']);
    expect(h.group.tpSize).toBe(3);
    const out = h.group.run(step(11));
    expect(Array.from(out['logits']!.data as Float32Array)).toEqual([0]);
    h.group.run(step(12));
    await settle();
    for (const r of h.ranks) expect(r.steps).toEqual([[11], [12]]);
    h.group.dispose();
    await Promise.all(h.finished);
    expect(h.ranks.map((r) => r.disposed)).toEqual([true, true, true]);
    expect(h.exits).toEqual([]); // a shutdown is not a crash
  });

  it('a rank whose link drops (its process died) puts the group in an error state naming it', async () => {
    const h = await startGroup(2);
    const reported: string[] = [];
    const unsubscribe = onTensorParallelFailure((why) => reported.push(why));
    h.group.run(step(1));
    h.group.crashRank(1, 70);
    await settle();
    unsubscribe();
    expect(reported).toEqual([h.group.error]); // once: what the engine worker forwards to the server
    expect(h.exits).toEqual([{ rank: 1, code: 70 }]);
    expect(h.group.error).toMatch(/tensor-parallel rank 1 lost its link to rank 0/);
    expect(() => h.group.run(step(2))).toThrow(BackendError);
    expect(() => h.group.run(step(2))).toThrow(/rank 1 .*restart the server/);
    expect(h.ranks[0]!.steps).toEqual([[1]]); // rank 0 did not run a step the group could not finish
  });

  it('a rank that fails a step reports it and leaves; later steps fail naming the rank', async () => {
    const h = await startGroup(2);
    h.ranks[1]!.failOnStep = 5;
    h.group.run(step(5));
    await settle();
    expect(h.group.error).toBe('tensor-parallel rank 1 failed step 1: Error: rank 1 out of memory');
    expect(() => h.group.run(step(6))).toThrow(/tensor-parallel rank 1 failed step 1/);
    await Promise.all(h.finished);
    expect(h.exits).toEqual([{ rank: 1, code: 3 }]);
  });

  it('a rank that cannot load its engine fails the start with its message', async () => {
    await expect(startGroup(2, { failLoad: 1 })).rejects.toThrow(/tensor-parallel rank 1 could not load its engine: Error: no GPU 3/);
  });

  it('ranks that never connect time out with a clear message instead of hanging', async () => {
    const launcher: GpuGroupLauncher = { createUniqueId: () => ID, createLocalContext: () => new FakeContext(0) };
    await expect(GpuGroupContext.create({ engineDir: '/e', tpSize: 2, kvCache: KV, startTimeoutMs: 200 }, launcher))
      .rejects.toThrow(/only 0 of 1 tensor-parallel ranks connected within 200 ms; check that every rank started \(mpirun -n 2\)/);
  });
});
