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

/** An NCCL communicator of this process's rank. The CUDA context of the rank's GPU must be current. */
export class NcclCommunicator implements DeviceCommunicator {
  private comm: unknown;

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
    if (this.comm === null) throw new BackendError('this NCCL communicator was disposed');
    return this.comm;
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
