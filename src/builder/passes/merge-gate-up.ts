/**
 * merge-gate-up: the SwiGLU MLP `mul(silu(gate(x)), up(x))`, with gate and up Linear matmuls
 * (transposeB, weights) reading the same x, becomes one matmul on [gate; up] (named with
 * `gate_up_proj`) followed by `silu_mul`, whose output is the old mul's tensor.
 */
import type { GraphDef, NodeDef } from '../../graph/types.js';
import type { WeightStore } from '../../engine/types.js';
import { GraphRewriter, indexGraph, onlyUsedBy, type GraphIndex } from '../graph-edit.js';
import { createMergedWeightStore, type MergedWeight } from '../weights.js';
import { matchLinear, plural, type LinearMatch } from './common.js';
import type { PassResult } from './types.js';

interface SwiGlu {
  readonly gate: LinearMatch;
  readonly up: LinearMatch;
  /** Positions of the silu and mul nodes. */
  readonly silu: number;
  readonly mul: number;
}

/** Tries mul(silu(gate), up) with the silu operand at `siluSide` (0 or 1) of the mul at `at`. */
function matchAt(index: GraphIndex, nodes: readonly NodeDef[], at: number, siluSide: 0 | 1): SwiGlu | undefined {
  const mul = nodes[at]!;
  const s = mul.inputs[siluSide]!;
  const u = mul.inputs[1 - siluSide]!;
  const siluAt = index.producer(s);
  const silu = siluAt === undefined ? undefined : nodes[siluAt];
  if (siluAt === undefined || silu?.op !== 'silu' || !onlyUsedBy(index, s, at)) return undefined;
  const g = silu.inputs[0]!;
  const gate = matchLinear(index, nodes, index.producer(g));
  const up = matchLinear(index, nodes, index.producer(u));
  if (!gate || !up || gate.input !== up.input || gate.at === up.at) return undefined;
  if (!onlyUsedBy(index, g, siluAt) || !onlyUsedBy(index, u, at)) return undefined;
  if (gate.outFeatures !== up.outFeatures || index.tensor(gate.weight).dtype !== index.tensor(up.weight).dtype) return undefined;
  return { gate, up, silu: siluAt, mul: at };
}

function mergedName(gate: string, up: string): string {
  return gate.includes('gate_proj') ? gate.replace('gate_proj', 'gate_up_proj') : `${gate}+${up}`;
}

export function mergeGateUp(graph: GraphDef, weights: WeightStore): PassResult {
  const index = indexGraph(graph);
  const rw = new GraphRewriter(graph);
  const merged = new Map<string, MergedWeight>();
  let numMerged = 0;
  graph.nodes.forEach((node, at) => {
    if (node.op !== 'mul' || node.inputs.length !== 2) return;
    const m = matchAt(index, graph.nodes, at, 0) ?? matchAt(index, graph.nodes, at, 1);
    if (!m || [m.gate.at, m.up.at, m.silu, m.mul].some((i) => rw.isTouched(i))) return;
    const w0 = index.tensor(m.gate.weight);
    const name = mergedName(m.gate.weightName, m.up.weightName);
    const shape = [2 * m.gate.outFeatures, w0.shape[1] as number];
    merged.set(name, { parts: [m.gate.weightName, m.up.weightName], shape, dtype: w0.dtype });
    const w = rw.addTensor({ name, shape, dtype: w0.dtype, kind: 'weight' });
    const nodeName = m.gate.node.name?.replace('gate_proj', 'gate_up_proj');
    const mm = rw.makeNode({ op: 'matmul', inputs: [m.gate.input, w], attrs: { transposeB: true }, ...(nodeName ? { name: nodeName } : {}) });
    const act = rw.makeNode({ op: 'silu_mul', inputs: [mm.outputs[0]!], attrs: {}, reuse: [node.outputs[0]] });
    const first = Math.min(m.gate.at, m.up.at);
    rw.replace(first, [mm, act]);
    rw.remove(Math.max(m.gate.at, m.up.at));
    rw.remove(m.silu);
    rw.remove(m.mul);
    numMerged++;
  });
  const log = numMerged === 0
    ? ['merge-gate-up: no gate/up pairs found']
    : [`merge-gate-up: merged ${plural(numMerged, 'gate/up pair')} (${2 * numMerged} matmuls + ${numMerged} silu + ${numMerged} mul → ${numMerged} matmuls + ${numMerged} silu_mul)`];
  return { graph: rw.finish(), weights: createMergedWeightStore(weights, merged), log };
}
