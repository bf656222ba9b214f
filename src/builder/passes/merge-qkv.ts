/**
 * merge-qkv: three Linear matmuls (transposeB, weight operands named `*q_proj*`, `*k_proj*`,
 * `*v_proj*`) reading the same input become one matmul on the concatenated weight [q; k; v]
 * (named with `qkv_proj`), followed by a split whose outputs are the old q/k/v tensors. When each
 * projection is followed by its own 1-D bias add (Qwen2), the biases are merged too.
 */
import type { GraphDef } from '../../graph/types.js';
import type { WeightStore } from '../../engine/types.js';
import { GraphRewriter, indexGraph, onlyUsedBy, type GraphIndex, type ResolvedNode } from '../graph-edit.js';
import { createMergedWeightStore, type MergedWeight } from '../weights.js';
import { matchLinear, otherOperand, plural, type LinearMatch } from './common.js';
import type { PassResult } from './types.js';

interface BiasMatch {
  /** Positions of the three bias adds. */
  readonly adds: readonly number[];
  readonly biasIds: readonly number[];
  readonly biasNames: readonly string[];
  /** The adds' outputs, in q, k, v order. */
  readonly outputs: readonly number[];
}

/** Each projection's output feeds only an add of a 1-D [N] weight; all three or none. */
function matchBiases(index: GraphIndex, graph: GraphDef, group: readonly LinearMatch[]): BiasMatch | undefined {
  const adds: number[] = [];
  const biasIds: number[] = [];
  const biasNames: string[] = [];
  const outputs: number[] = [];
  for (const m of group) {
    const out = m.node.outputs[0]!;
    const [at] = index.consumers(out);
    const add = at === undefined ? undefined : graph.nodes[at];
    if (at === undefined || !add || add.op !== 'add' || !onlyUsedBy(index, out, at)) return undefined;
    const other = otherOperand(add, out);
    const bias = other === undefined ? undefined : index.tensor(other);
    if (!bias || bias.kind !== 'weight' || bias.name === undefined || bias.shape.length !== 1 || bias.shape[0] !== m.outFeatures) return undefined;
    adds.push(at);
    biasIds.push(bias.id);
    biasNames.push(bias.name);
    outputs.push(add.outputs[0]!);
  }
  const dtypes = new Set(biasIds.map((id) => index.tensor(id).dtype));
  return dtypes.size === 1 ? { adds, biasIds, biasNames, outputs } : undefined;
}

function findGroups(graph: GraphDef, index: GraphIndex): LinearMatch[][] {
  const linears = graph.nodes.map((_, i) => matchLinear(index, graph.nodes, i)).filter((m): m is LinearMatch => m !== undefined);
  const byKey = new Map(linears.map((m) => [`${m.input}|${m.weightName}`, m]));
  const groups: LinearMatch[][] = [];
  for (const q of linears) {
    if (!q.weightName.includes('q_proj')) continue;
    const k = byKey.get(`${q.input}|${q.weightName.replace('q_proj', 'k_proj')}`);
    const v = byKey.get(`${q.input}|${q.weightName.replace('q_proj', 'v_proj')}`);
    if (k && v) groups.push([q, k, v]);
  }
  return groups;
}

export function mergeQkv(graph: GraphDef, weights: WeightStore): PassResult {
  const index = indexGraph(graph);
  const rw = new GraphRewriter(graph);
  const merged = new Map<string, MergedWeight>();
  let numGroups = 0;
  let numBiased = 0;
  let numSkipped = 0;
  for (const group of findGroups(graph, index)) {
    const ws = group.map((m) => index.tensor(m.weight));
    if (new Set(ws.map((w) => w.dtype)).size !== 1 || group.some((m) => rw.isTouched(m.at))) {
      numSkipped++;
      continue;
    }
    const bias = matchBiases(index, graph, group);
    rewriteGroup(rw, group, bias, merged, index);
    numGroups++;
    if (bias) numBiased++;
  }
  const log = numGroups === 0
    ? ['merge-qkv: no q/k/v projection groups found']
    : [`merge-qkv: merged ${plural(numGroups, 'q/k/v group')} (${3 * numGroups} matmuls → ${numGroups} matmuls + ${plural(numGroups, 'split')}; ${numBiased} with merged bias)`];
  if (numSkipped > 0) log.push(`merge-qkv: skipped ${plural(numSkipped, 'group')} whose weights differ in dtype`);
  return { graph: rw.finish(), weights: createMergedWeightStore(weights, merged), log };
}

function rewriteGroup(
  rw: GraphRewriter, group: readonly LinearMatch[], bias: BiasMatch | undefined,
  merged: Map<string, MergedWeight>, index: GraphIndex,
): void {
  const [q] = group as [LinearMatch, LinearMatch, LinearMatch];
  const w0 = index.tensor(q.weight);
  const sizes = group.map((m) => m.outFeatures);
  const total = sizes.reduce((a, b) => a + b, 0);
  const weightName = q.weightName.replace('q_proj', 'qkv_proj');
  const shape = [total, w0.shape[1] as number];
  merged.set(weightName, { parts: group.map((m) => m.weightName), shape, dtype: w0.dtype });
  const w = rw.addTensor({ name: weightName, shape, dtype: w0.dtype, kind: 'weight' });
  const name = q.node.name?.replace('q_proj', 'qkv_proj');
  const nodes: ResolvedNode[] = [rw.makeNode({ op: 'matmul', inputs: [q.input, w], attrs: { transposeB: true }, ...(name ? { name } : {}) })];
  let last = nodes[0]!.outputs[0]!;
  if (bias) {
    const biasName = bias.biasNames[0]!.replace('q_proj', 'qkv_proj');
    const b0 = index.tensor(bias.biasIds[0]!);
    merged.set(biasName, { parts: bias.biasNames, shape: [total], dtype: b0.dtype });
    const b = rw.addTensor({ name: biasName, shape: [total], dtype: b0.dtype, kind: 'weight' });
    nodes.push(rw.makeNode({ op: 'add', inputs: [last, b], attrs: {} }));
    last = nodes[1]!.outputs[0]!;
  }
  const finals = bias ? bias.outputs : group.map((m) => m.node.outputs[0]!);
  nodes.push(rw.makeNode({ op: 'split', inputs: [last], attrs: { axis: -1, sizes }, reuse: finals }));
  const first = Math.min(...group.map((m) => m.at));
  rw.replace(first, nodes);
  for (const m of group) if (m.at !== first) rw.remove(m.at);
  for (const at of bias?.adds ?? []) rw.remove(at);
}
