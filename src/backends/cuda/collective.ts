/**
 * Collectives of a tensor-parallel CUDA rank: the `DeviceCommunicator` the plan runner enqueues
 * all_reduce / all_gather on (the step's stream, so they are captured into CUDA graphs with the
 * kernels around them), and its NCCL implementation over backends/cuda/nccl.ts.
 * One communicator per process (one GPU per rank); rank 0 creates the unique id with
 * `createNcclUniqueId()` and sends its bytes to the other ranks (tp/ does that over its links).
 */
import { BackendError } from '../../errors/index.js';
import { getKoffi, loadDriver } from './bindings/native.js';
import type { DevicePtr, Stream } from './device.js';
import { checkNccl, declareNcclTypes, loadNccl, NCCL, NCCL_UNIQUE_ID_BYTES, type NcclApi } from './nccl.js';

export type CollectiveDType = 'bfloat16' | 'float32';

/** What the plan runner needs of a rank group. Counts are elements; pointers are device addresses. */
export interface DeviceCommunicator {
  readonly rank: number;
  readonly size: number;
  /** buf[0..count) = Σ over ranks, in place, enqueued on `stream`. */
  allReduceSum(buf: DevicePtr, count: number, dtype: CollectiveDType, stream: Stream): void;
  /** recv[r·count .. (r+1)·count) = rank r's send[0..count), enqueued on `stream`. */
  allGather(send: DevicePtr, recv: DevicePtr, count: number, dtype: CollectiveDType, stream: Stream): void;
  /** Aborts the group's pending collectives on this rank (a peer died); idempotent; dispose() is then a no-op. */
  abort?(): void;
  dispose(): void;
}

const NCCL_DTYPE: Readonly<Record<CollectiveDType, number>> = { bfloat16: NCCL.bfloat16, float32: NCCL.float32 };

/** A fresh ncclUniqueId (128 opaque bytes): rank 0 calls this and sends the bytes to every rank. */
export function createNcclUniqueId(api: NcclApi = loadNccl()): Uint8Array {
  const out = { internal: new Array<number>(NCCL_UNIQUE_ID_BYTES).fill(0) };
  checkNccl(api, api.ncclGetUniqueId(out), 'ncclGetUniqueId');
  return Uint8Array.from(out.internal);
}

/** The NCCL version as major·10000 + minor·100 + patch (e.g. 22105 for 2.21.5). */
export function ncclVersion(api: NcclApi = loadNccl()): number {
  const v = [0];
  checkNccl(api, api.ncclGetVersion(v), 'ncclGetVersion');
  return v[0]!;
}

/**
 * An NCCL communicator of this process's rank. The CUDA context of the rank's GPU must be current.
 *
 * Blocking mode (plain ncclCommInitRank), on purpose. A rank that dies mid-step leaves this rank's
 * *stream* (not its thread) waiting in a collective: the async step path (enqueueAndSample) only
 * enqueues collectives and polls an event, so the event loop is free to call `abort()`
 * (ncclCommAbort, which NCCL documents for tearing down a communicator whose peers failed: it
 * sets the abort flag the NCCL kernels poll, so they exit, then frees without talking to peers).
 * Non-blocking mode (ncclCommInitRankConfig with config.blocking = 0) would also let a thread stuck
 * *inside* an NCCL call be freed, but it turns every NCCL call, collectives captured in CUDA graphs
 * included, into one that may return ncclInProgress and must be polled with ncclCommGetAsyncError,
 * and the ncclConfig_t layout (size/magic/version header, then fields that grow with each release)
 * must match the loaded libnccl: a change that cannot be tried without several GPUs, for a case
 * (a host thread inside NCCL when a peer dies: init, or the synchronous run path) that the group
 * already bounds by its start timeout and by keeping the async path the default.
 */
export class NcclCommunicator implements DeviceCommunicator {
  private comm: unknown;
  private aborted = false;

  private constructor(private readonly api: NcclApi, comm: unknown, readonly rank: number, readonly size: number) {
    this.comm = comm;
  }

  /** ncclCommInitRank: blocks until all `size` ranks have called it with the same id. */
  static create(uniqueId: Uint8Array, rank: number, size: number, api: NcclApi = loadNccl()): NcclCommunicator {
    if (uniqueId.length !== NCCL_UNIQUE_ID_BYTES) throw new BackendError(`an NCCL unique id is ${NCCL_UNIQUE_ID_BYTES} bytes, got ${uniqueId.length}: the rank links corrupted it`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= size) throw new BackendError(`NCCL rank ${rank} is outside 0..${size - 1}`);
    declareNcclTypes(getKoffi());
    const out: unknown[] = [null];
    const id = { internal: Array.from(uniqueId) };
    checkNccl(api, api.ncclCommInitRank(out, size, id, rank), `ncclCommInitRank(rank ${rank} of ${size})`);
    return new NcclCommunicator(api, out[0], rank, size);
  }

  allReduceSum(buf: DevicePtr, count: number, dtype: CollectiveDType, stream: Stream): void {
    checkNccl(this.api, this.api.ncclAllReduce(buf, buf, count, NCCL_DTYPE[dtype], NCCL.sum, this.handle(), stream.handle), 'ncclAllReduce');
  }

  allGather(send: DevicePtr, recv: DevicePtr, count: number, dtype: CollectiveDType, stream: Stream): void {
    checkNccl(this.api, this.api.ncclAllGather(send, recv, count, NCCL_DTYPE[dtype], this.handle(), stream.handle), 'ncclAllGather');
  }

  private handle(): unknown {
    if (this.aborted) throw new BackendError('this NCCL communicator was aborted (a rank of its group failed); restart the group');
    if (this.comm === null) throw new BackendError('this NCCL communicator was disposed');
    return this.comm;
  }

  /** True once `abort()` ran: the communicator is gone and every collective throws. */
  get isAborted(): boolean { return this.aborted; }

  /**
   * ncclCommAbort: collectives of this rank still waiting on the GPU for a dead peer exit, and the
   * communicator is freed without contacting its peers. Idempotent; after it the communicator is
   * unusable and dispose() does nothing (ncclCommDestroy must not follow an abort). Never throws:
   * it runs on the failure path; NCCL's status comes back (0 = success) for logging.
   */
  abort(): number {
    if (this.aborted || this.comm === null) return 0;
    const comm = this.comm;
    this.aborted = true;
    this.comm = null;
    try {
      return Number(this.api.ncclCommAbort(comm));
    } catch {
      return -1;
    }
  }

  /** ncclCommGetAsyncError: 0 while healthy, an ncclResult_t (e.g. 6, ncclRemoteError) once NCCL saw a failure. */
  asyncError(): number {
    const out = [0];
    checkNccl(this.api, this.api.ncclCommGetAsyncError(this.handle(), out), 'ncclCommGetAsyncError');
    return out[0]!;
  }

  dispose(): void {
    if (this.comm === null) return;
    const comm = this.comm;
    this.comm = null;
    checkNccl(this.api, this.api.ncclCommDestroy(comm), 'ncclCommDestroy');
  }
}

/** One strided copy the all_gather reorder enqueues: bytes from src+srcOffset to dst+dstOffset. */
export interface RowCopy { readonly srcOffset: number; readonly dstOffset: number; readonly bytes: number }

/**
 * NCCL gathers rank-major ([tpSize, rows, cols]); the graph wants rows of the ranks' columns side
 * by side ([rows, tpSize·cols]). The copies that reorder `staging` into `out` (byte offsets);
 * a single rank needs none when staging and out are the same layout (rows = 1 or tpSize = 1).
 */
export function gatherReorderCopies(rows: number, cols: number, tpSize: number, elementBytes: number): RowCopy[] {
  const bytes = cols * elementBytes;
  if (tpSize === 1) return [{ srcOffset: 0, dstOffset: 0, bytes: rows * bytes }];
  const out: RowCopy[] = [];
  for (let r = 0; r < tpSize; r++) {
    for (let row = 0; row < rows; row++) out.push({ srcOffset: (r * rows + row) * bytes, dstOffset: (row * tpSize + r) * bytes, bytes });
  }
  return out;
}

/** GPUs the driver sees (cuDeviceGetCount, after CUDA_VISIBLE_DEVICES); 0 when there is no driver. */
export function countCudaDevices(): number {
  let cu;
  try {
    cu = loadDriver();
  } catch {
    return 0;
  }
  const n = [0];
  return cu.cuDeviceGetCount(n) === 0 ? n[0]! : 0;
}
