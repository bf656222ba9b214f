/**
 * The tensor-parallel driver: an ExecutionContext on the calling thread whose ranks are worker
 * threads (rank-worker.ts), one per rank engine of the directory. `run(step)` posts the step's
 * plain data to every rank and blocks (Atomics.wait, in short slices) until all have answered;
 * it returns rank 0's outputs (every rank computes the same gathered logits).
 *
 * Failures are loud, never hangs: a rank that throws fails that step with its error (the group
 * stays usable); a rank that dies, or one that does not answer within `stepTimeoutMs`, fails the
 * context for good with a BackendError naming the rank.
 */
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import type { ExecutionContext, HostTensor, KvCacheSpec, StepInputs } from '../backends/types.js';
import { BackendError } from '../errors/index.js';
import type { RankReply, RankStatus, ToRank } from './protocol.js';
import { CTRL, POLL_MS, createTpSharedBuffers, type TpSharedBuffers } from './shared-memory.js';
import { startRankWorker } from './spawn.js';

export interface TensorParallelOptions {
  /** A step not finished by every rank within this many ms fails the context (default 10 min). */
  readonly stepTimeoutMs?: number;
  /** Floats per rank staged per collective chunk (default 262144 = 1 MiB). */
  readonly chunkFloats?: number;
}

interface Rank {
  readonly worker: Worker;
  readonly reply: MessagePort;
}

export class TensorParallelContext implements ExecutionContext {
  private readonly ctrl: Int32Array;
  private readonly usage: Float64Array;
  private failure: string | null = null;
  private disposed = false;
  private seq = 0;

  private constructor(private readonly ranks: readonly Rank[], shared: TpSharedBuffers, private readonly stepTimeoutMs: number) {
    this.ctrl = new Int32Array(shared.ctrl);
    this.usage = new Float64Array(shared.usage);
    ranks.forEach((r, i) => {
      r.worker.on('error', (err) => this.fail(`tensor-parallel rank ${i} crashed: ${err.message}`));
      r.worker.on('exit', (code) => this.fail(`tensor-parallel rank ${i} exited unexpectedly (code ${code})`));
    });
  }

  /** Starts `tpSize` rank workers over `engineDir` and waits until each has loaded its engine. */
  static async create(engineDir: string, kvCache: KvCacheSpec, tpSize: number, options: TensorParallelOptions = {}): Promise<TensorParallelContext> {
    const shared = createTpSharedBuffers(tpSize, options.chunkFloats);
    const ranks = Array.from({ length: tpSize }, (_, rank): Rank => {
      const { port1, port2 } = new MessageChannel();
      const worker = startRankWorker({ engineDir, rank, kvCache, shared, reply: port2 }, [port2]);
      return { worker, reply: port1 };
    });
    const loaded = ranks.map((r, i) => waitUntilLoaded(r.worker, i));
    try {
      await Promise.all(loaded);
    } catch (err) {
      await Promise.allSettled(loaded);
      for (const r of ranks) await r.worker.terminate();
      throw err;
    }
    const context = new TensorParallelContext(ranks, shared, options.stepTimeoutMs ?? 600_000);
    for (const r of ranks) r.worker.unref(); // a context left undisposed must not keep the process alive
    return context;
  }

  get tpSize(): number {
    return this.ranks.length;
  }

  run(step: StepInputs): Record<string, HostTensor> {
    if (this.disposed) throw new BackendError('this tensor-parallel context was disposed');
    if (this.failure) throw new BackendError(`${this.failure}; the tensor-parallel group is down: restart the engine`);
    const seq = ++this.seq;
    Atomics.store(this.ctrl, CTRL.done, 0);
    const message: ToRank = { type: 'step', seq, step };
    for (const r of this.ranks) r.worker.postMessage(message);
    this.waitForRanks();
    return this.collect(seq);
  }

  /** Sum over ranks, from what each rank recorded after its last step. */
  memoryUsage(): { weights: number; kvCache: number; activations: number } {
    const sum = (k: number): number => this.ranks.reduce((s, _r, i) => s + this.usage[i * 3 + k]!, 0);
    return { weights: sum(0), kvCache: sum(1), activations: sum(2) };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const r of this.ranks) {
      r.reply.close();
      void r.worker.terminate();
    }
  }

  /** Fault drill (tests): rank `rank` exits at once with `code`, as a crashed rank would. */
  crashRank(rank: number, code = 70): void {
    this.ranks[rank]?.worker.postMessage({ type: 'crash', code } satisfies ToRank);
  }

  private fail(why: string): void {
    if (!this.disposed) this.failure ??= why;
  }

  private waitForRanks(): void {
    const deadline = Date.now() + this.stepTimeoutMs;
    for (;;) {
      const done = Atomics.load(this.ctrl, CTRL.done);
      const dead = this.deadRank();
      if (dead !== undefined) {
        this.fail(`tensor-parallel rank ${dead.rank} died during a step (exit code ${dead.code})`);
        throw new BackendError(`${this.failure!}; the tensor-parallel group is down: restart the engine`);
      }
      if (done >= this.ranks.length) return;
      if (Date.now() > deadline) {
        this.fail(`tensor-parallel ranks did not finish a step within ${this.stepTimeoutMs} ms (${done} of ${this.ranks.length} answered)`);
        throw new BackendError(`${this.failure!}; the tensor-parallel group is down: restart the engine`);
      }
      Atomics.wait(this.ctrl, CTRL.done, done, POLL_MS);
    }
  }

  private deadRank(): { rank: number; code: number } | undefined {
    for (let r = 0; r < this.ranks.length; r++) {
      const status = Atomics.load(this.ctrl, CTRL.status + r);
      if (status !== 0) return { rank: r, code: status - 1 };
    }
    return undefined;
  }

  /** Reads every rank's answer to step `seq`; a failed step resets the group for the next one. */
  private collect(seq: number): Record<string, HostTensor> {
    const replies = this.ranks.map((r, i) => readReply(r.reply, seq, i));
    // Prefer the rank that failed first over those aborted because of it.
    const isError = (m: RankReply): boolean => m.type === 'error';
    const root = replies.findIndex((m) => isError(m) && !ABORTED.test((m as { message: string }).message));
    const failed = root >= 0 ? root : replies.findIndex(isError);
    if (failed >= 0) {
      Atomics.store(this.ctrl, CTRL.barrierCount, 0);
      Atomics.store(this.ctrl, CTRL.abort, 0);
      const first = replies[failed] as Extract<RankReply, { type: 'error' }>;
      throw new BackendError(`tensor-parallel rank ${failed} failed the step: ${first.message}`);
    }
    const outputs = (replies[0] as Extract<RankReply, { type: 'done' }>).outputs;
    if (!outputs) throw new BackendError('tensor-parallel rank 0 answered without outputs');
    return outputs;
  }
}

const ABORTED = /the step was aborted because another rank failed/;

function readReply(port: MessagePort, seq: number, rank: number): RankReply {
  for (;;) {
    const got = receiveMessageOnPort(port) as { message: RankReply } | undefined;
    if (!got) throw new BackendError(`tensor-parallel rank ${rank} counted step ${seq} done without answering it`);
    if (got.message.seq === seq) return got.message;
  }
}

function waitUntilLoaded(worker: Worker, rank: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: RankStatus): void => {
      cleanup();
      if (m.type === 'ready') resolve();
      else reject(new BackendError(`tensor-parallel rank ${rank} could not load its engine: ${m.message}`));
    };
    const onError = (err: Error): void => { cleanup(); reject(new BackendError(`tensor-parallel rank ${rank} crashed while loading: ${err.message}`)); };
    const onExit = (code: number): void => { cleanup(); reject(new BackendError(`tensor-parallel rank ${rank} exited while loading (code ${code})`)); };
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

/** The ExecutionContext of a tp > 1 engine directory on the CPU backend. */
export function createTensorParallelContext(engineDir: string, kvCache: KvCacheSpec, tpSize: number, options?: TensorParallelOptions): Promise<TensorParallelContext> {
  return TensorParallelContext.create(engineDir, kvCache, tpSize, options);
}
