/** Checks a GraphDef (e.g. after a builder pass or loading an engine) is well formed. */
import { ShapeError } from '../errors/index.js';
import { formatShape } from './ops/common.js';
import { getOpSpec } from './ops/index.js';
import type { GraphDef, NodeDef, TensorDef } from './types.js';

function fail(why: string): never {
  throw new ShapeError(`invalid graph: ${why}`);
}

function sameSig(a: TensorDef, shape: readonly (number | string)[], dtype: string): boolean {
  return a.dtype === dtype && a.shape.length === shape.length && a.shape.every((d, i) => d === shape[i]);
}

function checkTensors(graph: GraphDef): void {
  const names = new Set<string>();
  graph.tensors.forEach((t, i) => {
    if (t.id !== i) fail(`tensor at index ${i} has id ${t.id}`);
    if (t.kind !== 'intermediate') {
      if (!t.name) fail(`${t.kind} tensor ${t.id} has no name`);
      if (names.has(t.name)) fail(`tensor name '${t.name}' is used twice`);
      names.add(t.name);
    }
    if (t.kind === 'weight' && t.shape.some((d) => typeof d !== 'number')) fail(`weight '${t.name}' has a symbolic shape ${formatShape(t.shape)}`);
  });
  const declared = graph.tensors.filter((t) => t.kind === 'input').map((t) => t.id);
  if (declared.length !== graph.inputs.length || declared.some((id) => !graph.inputs.includes(id))) {
    fail(`graph.inputs [${graph.inputs.join(', ')}] differ from the input tensors [${declared.join(', ')}]`);
  }
}

function checkNode(graph: GraphDef, node: NodeDef, index: number, ready: Set<number>): void {
  const where = `node ${node.id} (${node.op}${node.name ? ` ${node.name}` : ''})`;
  if (node.id !== index) fail(`node at index ${index} has id ${node.id}`);
  const inputs = node.inputs.map((id) => {
    const t = graph.tensors[id];
    if (!t) fail(`${where} reads unknown tensor ${id}`);
    if (!ready.has(id)) fail(`${where} reads tensor ${id} before it is produced (nodes must be in topological order)`);
    return t;
  });
  const inferred = getOpSpec(node.op).infer(inputs, node.attrs);
  if (inferred.length !== node.outputs.length) fail(`${where} has ${node.outputs.length} outputs, its op gives ${inferred.length}`);
  node.outputs.forEach((id, i) => {
    const t = graph.tensors[id];
    if (!t || t.kind !== 'intermediate') fail(`${where} writes tensor ${id}, which is not an intermediate`);
    if (ready.has(id)) fail(`${where} writes tensor ${id}, which is already produced`);
    const want = inferred[i]!;
    if (!sameSig(t, want.shape, want.dtype)) {
      fail(`${where} output ${id} is ${t.dtype} ${formatShape(t.shape)} but re-inference gives ${want.dtype} ${formatShape(want.shape)}`);
    }
    ready.add(id);
  });
}

/** Throws `ShapeError` ("invalid graph: ...") on the first problem found. */
export function validateGraph(graph: GraphDef): void {
  checkTensors(graph);
  const ready = new Set<number>(graph.tensors.filter((t) => t.kind !== 'intermediate').map((t) => t.id));
  graph.nodes.forEach((node, i) => checkNode(graph, node, i, ready));
  const names = new Set<string>();
  for (const o of graph.outputs) {
    if (names.has(o.name)) fail(`output name '${o.name}' is used twice`);
    names.add(o.name);
    if (!ready.has(o.tensor)) fail(`output '${o.name}' refers to tensor ${o.tensor}, which is never produced`);
  }
}
