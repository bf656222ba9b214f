/**
 * fuse-matmul-epilogue: matmul → add of a 1-D [N] bias weight → optional relu/gelu/silu becomes
 * one `fused_matmul` (inputs a, b, bias; attrs transposeB, hasBias, activation), when each
 * intermediate has no other reader. The fused node's output is the last replaced node's tensor.
 */
import type { GraphDef, NodeDef } from '../../graph/types.js';
import type { WeightStore } from '../../engine/types.js';
import { GraphRewriter, indexGraph, onlyUsedBy, sameShape, type GraphIndex } from '../graph-edit.js';
import { otherOperand, plural } from './common.js';
import type { PassResult } from './types.js';

const ACTIVATIONS = new Set(['relu', 'gelu', 'silu']);

interface Epilogue {
  readonly add: number;
  readonly bias: number;
  readonly act: number | undefined;
  readonly output: number;
}

function matchEpilogue(index: GraphIndex, nodes: readonly NodeDef[], at: number): Epilogue | undefined {
  const mm = nodes[at]!;
  const out = mm.outputs[0]!;
  const [addAt] = index.consumers(out);
  const add = addAt === undefined ? undefined : nodes[addAt];
  if (addAt === undefined || add?.op !== 'add' || !onlyUsedBy(index, out, addAt)) return undefined;
  const bias = otherOperand(add, out);
  const n = index.tensor(out).shape.at(-1);
  const b = bias === undefined ? undefined : index.tensor(bias);
  if (bias === undefined || !b || b.kind !== 'weight' || b.shape.length !== 1 || b.shape[0] !== n) return undefined;
  const sum = add.outputs[0]!;
  if (!sameShape(index.tensor(sum).shape, index.tensor(out).shape) || index.tensor(sum).dtype !== index.tensor(out).dtype) return undefined;
  const [actAt] = index.consumers(sum);
  const act = actAt === undefined ? undefined : nodes[actAt];
  if (actAt !== undefined && act && ACTIVATIONS.has(act.op) && onlyUsedBy(index, sum, actAt)) {
    return { add: addAt, bias, act: actAt, output: act.outputs[0]! };
  }
  return { add: addAt, bias, act: undefined, output: sum };
}

export function fuseMatmulEpilogue(graph: GraphDef, weights: WeightStore): PassResult {
  const index = indexGraph(graph);
  const rw = new GraphRewriter(graph);
  const counts = new Map<string, number>();
  graph.nodes.forEach((node, at) => {
    if (node.op !== 'matmul' || rw.isTouched(at)) return;
    const e = matchEpilogue(index, graph.nodes, at);
    if (!e || rw.isTouched(e.add) || (e.act !== undefined && rw.isTouched(e.act))) return;
    const activation = e.act === undefined ? 'none' : graph.nodes[e.act]!.op;
    const fused = rw.makeNode({
      op: 'fused_matmul',
      inputs: [node.inputs[0]!, node.inputs[1]!, e.bias],
      attrs: { transposeB: node.attrs.transposeB === true, hasBias: true, activation },
      reuse: [e.output],
      ...(node.name ? { name: node.name } : {}),
    });
    rw.replace(at, [fused]);
    rw.remove(e.add);
    if (e.act !== undefined) rw.remove(e.act);
    counts.set(activation, (counts.get(activation) ?? 0) + 1);
  });
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const detail = [...counts].map(([act, n]) => `${n} ${act === 'none' ? 'bias only' : `bias+${act}`}`).join(', ');
  const log = total === 0
    ? ['fuse-matmul-epilogue: no matmul + bias patterns found']
    : [`fuse-matmul-epilogue: fused ${plural(total, 'matmul')} with their epilogue into fused_matmul (${detail})`];
  return { graph: rw.finish(), weights, log };
}
