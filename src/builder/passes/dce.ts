/**
 * dce: drops nodes none of whose outputs reach a graph output (ops with side effects, such as
 * attention writing the KV cache, are kept), then tensors and weights nothing references.
 * Graph inputs always stay. Tensor and node ids are renumbered densely (id = position).
 */
import type { GraphDef, NodeDef, TensorDef } from '../../graph/types.js';
import type { WeightStore } from '../../engine/types.js';
import { createFilteredWeightStore } from '../weights.js';
import { plural } from './common.js';
import type { PassResult } from './types.js';

/** Ops that must run even when their outputs are unused. */
const SIDE_EFFECT_OPS = new Set(['attention']);

function liveNodes(graph: GraphDef): NodeDef[] {
  const needed = new Set(graph.outputs.map((o) => o.tensor));
  const live: NodeDef[] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i]!;
    if (!SIDE_EFFECT_OPS.has(node.op) && !node.outputs.some((t) => needed.has(t))) continue;
    live.push(node);
    for (const t of node.inputs) needed.add(t);
  }
  return live.reverse();
}

export function dce(graph: GraphDef, weights: WeightStore): PassResult {
  const nodes = liveNodes(graph);
  const keep = new Set<number>(graph.inputs);
  for (const n of nodes) for (const t of [...n.inputs, ...n.outputs]) keep.add(t);
  for (const o of graph.outputs) keep.add(o.tensor);
  const renumber = new Map<number, number>();
  const tensors: TensorDef[] = [];
  for (const t of graph.tensors) {
    if (!keep.has(t.id)) continue;
    renumber.set(t.id, tensors.length);
    tensors.push({ ...t, id: tensors.length });
  }
  const map = (id: number): number => renumber.get(id)!;
  const out: GraphDef = {
    tensors,
    nodes: nodes.map((n, i) => ({ ...n, id: i, inputs: n.inputs.map(map), outputs: n.outputs.map(map) })),
    inputs: graph.inputs.map(map),
    outputs: graph.outputs.map((o) => ({ name: o.name, tensor: map(o.tensor) })),
  };
  const usedWeights = new Set(tensors.filter((t) => t.kind === 'weight' && t.name !== undefined).map((t) => t.name!));
  const before = new Set(weights.names());
  const numDroppedWeights = [...before].filter((n) => !usedWeights.has(n)).length;
  const numNodes = graph.nodes.length - nodes.length;
  const numTensors = graph.tensors.length - tensors.length;
  return {
    graph: out,
    weights: createFilteredWeightStore(weights, usedWeights),
    log: [`dce: removed ${plural(numNodes, 'node')}, ${plural(numTensors, 'tensor')} and ${plural(numDroppedWeights, 'weight')} no longer referenced`],
  };
}
