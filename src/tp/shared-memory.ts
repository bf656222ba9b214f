/**
 * The shared memory of one tensor-parallel group: a control block of Int32 words (barrier,
 * abort flag, step completion count, per-rank exit status), per-rank memory usage, and a
 * staging area of `chunkFloats` floats per rank through which collectives move data.
 *
 * Collectives are deterministic: every rank sums the staged chunks in rank order (in float64,
 * rounded once to float32), so all ranks get bit-identical results and reruns reproduce them.
 * Every wait re-checks the abort flag, so a failed or dead rank never leaves the others hanging.
 */
import { BackendError } from '../errors/index.js';
import type { Communicator } from '../backends/cpu/kernels/collective.js';

/** Word indices of the control block. */
export const CTRL = { barrierCount: 0, barrierGeneration: 1, abort: 2, done: 3, status: 4 } as const;

/** Plain data handed to each rank worker (SharedArrayBuffers are shared, not copied). */
export interface TpSharedBuffers {
  readonly tpSize: number;
  readonly chunkFloats: number;
  /** Int32 control words; `status + r` is 0 while rank r lives, else its exit code + 1. */
  readonly ctrl: SharedArrayBuffer;
  /** Float64 [tpSize, 3]: weights, kvCache, activations bytes of each rank. */
  readonly usage: SharedArrayBuffer;
  /** Float32 [tpSize, chunkFloats] staging area of the collectives. */
  readonly staging: SharedArrayBuffer;
}

export function createTpSharedBuffers(tpSize: number, chunkFloats = 1 << 18): TpSharedBuffers {
  return {
    tpSize,
    chunkFloats,
    ctrl: new SharedArrayBuffer(4 * (CTRL.status + tpSize)),
    usage: new SharedArrayBuffer(8 * 3 * tpSize),
    staging: new SharedArrayBuffer(4 * chunkFloats * tpSize),
  };
}

/** Wait slice: how often a blocked rank or the driver re-checks for aborts and dead ranks. */
export const POLL_MS = 20;

/** Sets the abort flag and wakes every waiter (barriers and the driver). */
export function signalAbort(ctrl: Int32Array): void {
  Atomics.store(ctrl, CTRL.abort, 1);
  Atomics.notify(ctrl, CTRL.barrierGeneration);
  Atomics.notify(ctrl, CTRL.done);
}

/** Rank `rank`'s communicator over `shared` (used inside its worker thread). */
export class SharedMemoryCommunicator implements Communicator {
  readonly size: number;
  private readonly ctrl: Int32Array;
  private readonly staging: Float32Array;
  private readonly chunk: number;

  constructor(shared: TpSharedBuffers, readonly rank: number) {
    this.size = shared.tpSize;
    this.ctrl = new Int32Array(shared.ctrl);
    this.staging = new Float32Array(shared.staging);
    this.chunk = shared.chunkFloats;
  }

  /** Returns once every rank has arrived; throws BackendError if the group was aborted. */
  barrier(): void {
    const ctrl = this.ctrl;
    const generation = Atomics.load(ctrl, CTRL.barrierGeneration);
    if (Atomics.add(ctrl, CTRL.barrierCount, 1) === this.size - 1) {
      Atomics.store(ctrl, CTRL.barrierCount, 0);
      Atomics.add(ctrl, CTRL.barrierGeneration, 1);
      Atomics.notify(ctrl, CTRL.barrierGeneration);
      return;
    }
    while (Atomics.load(ctrl, CTRL.barrierGeneration) === generation) {
      if (Atomics.load(ctrl, CTRL.abort) !== 0) throw new BackendError(`tensor-parallel rank ${this.rank}: the step was aborted because another rank failed`);
      Atomics.wait(ctrl, CTRL.barrierGeneration, generation, POLL_MS);
    }
  }

  allReduceSum(data: Float32Array): void {
    const { chunk, size, staging } = this;
    for (let off = 0; off < data.length; off += chunk) {
      const n = Math.min(chunk, data.length - off);
      staging.set(data.subarray(off, off + n), this.rank * chunk);
      this.barrier();
      for (let i = 0; i < n; i++) {
        let sum = staging[i]!;
        for (let r = 1; r < size; r++) sum += staging[r * chunk + i]!;
        data[off + i] = sum;
      }
      this.barrier(); // nobody restages before everyone has read
    }
  }

  allGather(data: Float32Array, rows: number, cols: number): Float32Array {
    const { chunk, size, staging } = this;
    if (cols > chunk) throw new BackendError(`all_gather: rows of ${cols} floats exceed the ${chunk}-float staging chunk; raise chunkFloats`);
    const out = new Float32Array(rows * cols * size);
    const rowsPerChunk = Math.floor(chunk / cols);
    for (let row = 0; row < rows; row += rowsPerChunk) {
      const n = Math.min(rowsPerChunk, rows - row);
      staging.set(data.subarray(row * cols, (row + n) * cols), this.rank * chunk);
      this.barrier();
      for (let r = 0; r < size; r++) {
        for (let i = 0; i < n; i++) {
          out.set(staging.subarray(r * chunk + i * cols, r * chunk + (i + 1) * cols), (row + i) * cols * size + r * cols);
        }
      }
      this.barrier();
    }
    return out;
  }
}
