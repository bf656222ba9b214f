/**
 * CPU kernels of the tensor-parallel ops. Each rank of a sharded engine runs in its own worker
 * thread (src/tp), which installs that thread's `Communicator` with `setThreadCommunicator`
 * before running; a graph without collectives never needs one.
 */
import { BackendError } from '../../../errors/index.js';
import type { NodeDef } from '../../../graph/types.js';
import { f32, i32, type Buf } from '../buffer.js';

/** One rank's view of its tensor-parallel group (implemented over shared memory by src/tp). */
export interface Communicator {
  readonly rank: number;
  readonly size: number;
  /** Replaces `data` by the element-wise sum over ranks, in rank order (same result on every rank). */
  allReduceSum(data: Float32Array): void;
  /** `data` is [rows, cols] on every rank; returns [rows, cols · size], rank r in columns r·cols… */
  allGather(data: Float32Array, rows: number, cols: number): Float32Array;
}

let threadCommunicator: Communicator | undefined;

/** Installs (or with undefined removes) the communicator collectives of this thread use. */
export function setThreadCommunicator(comm: Communicator | undefined): void {
  threadCommunicator = comm;
}

function communicatorFor(node: NodeDef): Communicator | undefined {
  const tpSize = node.attrs['tpSize'] as number;
  if (tpSize === 1) return undefined;
  const comm = threadCommunicator;
  if (!comm || comm.size !== tpSize) {
    throw new BackendError(`node ${node.id} (${node.op}) belongs to a tensor-parallel engine of ${tpSize} ranks, but this context is not one of its ranks; load the engine directory with LLM (or createTensorParallelContext) so that each rank runs in its own worker`);
  }
  return comm;
}

type Kernel = (x: readonly Buf[], node: NodeDef, outShapes: readonly number[][]) => Buf[];

const allReduce: Kernel = (x, node) => {
  const a = x[0]!;
  const out = Float32Array.from(f32(a, 'all_reduce'));
  communicatorFor(node)?.allReduceSum(out);
  return [{ data: out, shape: a.shape }];
};

const allGather: Kernel = (x, node, outShapes) => {
  const a = x[0]!;
  const cols = a.shape[a.shape.length - 1]!;
  const data = f32(a, 'all_gather');
  const comm = communicatorFor(node);
  const out = comm ? comm.allGather(data, data.length / cols, cols) : Float32Array.from(data);
  return [{ data: out, shape: outShapes[0]! }];
};

/** Rows of this rank's vocabulary slice; zeros for ids owned by other ranks. */
const vocabEmbedding: Kernel = (x, node, outShapes) => {
  const ids = i32(x[0]!, 'vocab_embedding');
  const table = x[1]!;
  const rows = table.shape[0]!, h = table.shape[1]!;
  const t = f32(table, 'vocab_embedding');
  const start = node.attrs['vocabStart'] as number;
  const vocab = typeof node.attrs['vocabSize'] === 'number' ? node.attrs['vocabSize'] : Infinity;
  const out = new Float32Array(ids.length * h);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id < 0 || id >= vocab) throw new BackendError(`vocab_embedding: token id ${id} at position ${i} is outside the vocabulary (${vocab} tokens)`);
    const row = id - start;
    if (row >= 0 && row < rows) out.set(t.subarray(row * h, (row + 1) * h), i * h);
  }
  return [{ data: out, shape: outShapes[0]! }];
};

export const COLLECTIVE_KERNELS: Readonly<Record<string, Kernel>> = {
  all_reduce: allReduce,
  all_gather: allGather,
  vocab_embedding: vocabEmbedding,
};
