/**
 * Weights decoded to float32 once, when a context is created (bf16/f16/fp8 via graph/dtype),
 * so kernels never convert per call. Weights used only as the [K, N] right operand of a
 * non-transposed matmul are stored transposed ([N, K]), the layout the GEMM wants.
 */
import { EngineLoadError } from '../../errors/index.js';
import { toFloat32 } from '../../graph/dtype.js';
import type { GraphDef, TensorDef } from '../../graph/types.js';
import type { WeightStore } from '../../engine/types.js';
import { numel, type Buf } from './buffer.js';
import { transpose2d } from './kernels/matmul.js';
import { dummyValues } from '../dummy-weights.js';

const MATMUL_OPS = new Set(['matmul', 'fused_matmul']);

export interface CpuWeights {
  /** Decoded weights by tensor id (absent where only the transposed copy is kept). */
  readonly plain: Map<number, Buf>;
  /** [N, K] copies of weights used as non-transposed matmul right operands. */
  readonly transposed: Map<number, Float32Array>;
  readonly bytes: number;
}

function decode(def: TensorDef, store: WeightStore, dummySeed?: number): Buf {
  const name = def.name!;
  if (dummySeed !== undefined) return { data: dummyValues(dummySeed, name, numel(def.shape as number[]), def), shape: def.shape as number[] };
  if (!store.has(name)) throw new EngineLoadError(`weight '${name}' is missing from the engine's weights; rebuild the engine`);
  const t = store.get(name);
  const shape = def.shape as number[];
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]) || t.data.length !== numel(shape)) {
    throw new EngineLoadError(`weight '${name}' has shape [${t.shape.join(', ')}] (${t.data.length} elements) but the graph expects [${shape.join(', ')}]; rebuild the engine`);
  }
  if (t.dtype === 'int32' || t.dtype === 'int8' || t.dtype === 'uint8') return { data: Int32Array.from(t.data), shape };
  return { data: t.dtype === 'float32' && t.data instanceof Float32Array ? t.data : toFloat32(t.dtype, t.data), shape };
}

/** How each weight is used: as a non-transposed matmul `b`, or otherwise. */
function weightUses(graph: GraphDef): { asPlainB: Set<number>; other: Set<number> } {
  const asPlainB = new Set<number>();
  const other = new Set<number>();
  for (const node of graph.nodes) {
    node.inputs.forEach((id, i) => {
      if (graph.tensors[id]?.kind !== 'weight') return;
      if (i === 1 && MATMUL_OPS.has(node.op) && node.attrs['transposeB'] !== true) asPlainB.add(id);
      else other.add(id);
    });
  }
  for (const o of graph.outputs) other.add(o.tensor);
  return { asPlainB, other };
}

/** `dummySeed`: the engine was built with `--load_format dummy`; weights are seeded random values. */
export function loadWeights(graph: GraphDef, store: WeightStore, dummySeed?: number): CpuWeights {
  const plain = new Map<number, Buf>();
  const transposed = new Map<number, Float32Array>();
  const { asPlainB, other } = weightUses(graph);
  let bytes = 0;
  for (const def of graph.tensors) {
    if (def.kind !== 'weight') continue;
    const buf = decode(def, store, dummySeed);
    if (asPlainB.has(def.id) && buf.data instanceof Float32Array) {
      transposed.set(def.id, transpose2d(buf.data, buf.shape[0]!, buf.shape[1]!));
      bytes += buf.data.byteLength;
    }
    if (!asPlainB.has(def.id) || other.has(def.id)) {
      plain.set(def.id, buf);
      bytes += buf.data.byteLength;
    }
  }
  return { plain, transposed, bytes };
}
