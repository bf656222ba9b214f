/**
 * fuse-add-rmsnorm: a residual add(x, r) of equal shapes whose sum feeds an rmsnorm becomes
 * `add_rmsnorm(x, r, weight)` with outputs [normed, sum]. Both outputs keep the old tensor ids,
 * so later readers of the sum (the next residual) read the fused node's second output.
 */
import type { GraphDef } from '../../graph/types.js';
import type { WeightStore } from '../../engine/types.js';
import { GraphRewriter, indexGraph, sameShape } from '../graph-edit.js';
import { plural } from './common.js';
import type { PassResult } from './types.js';

export function fuseAddRmsnorm(graph: GraphDef, weights: WeightStore): PassResult {
  const index = indexGraph(graph);
  const rw = new GraphRewriter(graph);
  let numFused = 0;
  graph.nodes.forEach((node, at) => {
    if (node.op !== 'add' || node.inputs.length !== 2) return;
    const [x, r] = node.inputs as [number, number];
    if (!sameShape(index.tensor(x).shape, index.tensor(r).shape)) return;
    const sum = node.outputs[0]!;
    const normAt = index.consumers(sum).find((i) => graph.nodes[i]!.op === 'rmsnorm' && graph.nodes[i]!.inputs[0] === sum);
    if (normAt === undefined || rw.isTouched(normAt)) return;
    const norm = graph.nodes[normAt]!;
    const fused = rw.makeNode({
      op: 'add_rmsnorm',
      inputs: [x, r, norm.inputs[1]!],
      attrs: { eps: norm.attrs.eps ?? null },
      reuse: [norm.outputs[0], sum],
      ...(norm.name ? { name: norm.name } : {}),
    });
    rw.replace(at, [fused]);
    rw.remove(normAt);
    numFused++;
  });
  const log = numFused === 0
    ? ['fuse-add-rmsnorm: no residual add + rmsnorm pairs found']
    : [`fuse-add-rmsnorm: fused ${plural(numFused, 'residual add + rmsnorm pair')} into add_rmsnorm (${2 * numFused} nodes → ${numFused})`];
  return { graph: rw.finish(), weights, log };
}
