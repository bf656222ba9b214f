/**
 * Small tools the passes share: an index of producers/consumers, and a rewriter that replaces
 * nodes while keeping node order topological. New nodes get their output shapes from the op
 * specs; a pass may reuse an existing tensor id as an output (so later readers need no rewiring),
 * in which case the inferred shape must equal the existing one.
 */
import { getOpSpec } from '../graph/ops/index.js';
import type { Attrs, GraphDef, NodeDef, Shape, TensorDef } from '../graph/types.js';

export interface GraphIndex {
  tensor(id: number): TensorDef;
  /** Index (position in `graph.nodes`) of the node producing `id`, or undefined for inputs/weights. */
  producer(id: number): number | undefined;
  /** Positions of the nodes reading `id` (once per node, in order). */
  consumers(id: number): readonly number[];
  isGraphOutput(id: number): boolean;
}

export function indexGraph(graph: GraphDef): GraphIndex {
  const tensors = new Map(graph.tensors.map((t) => [t.id, t]));
  const producers = new Map<number, number>();
  const consumers = new Map<number, number[]>();
  graph.nodes.forEach((node, i) => {
    for (const o of node.outputs) producers.set(o, i);
    for (const t of new Set(node.inputs)) {
      const list = consumers.get(t) ?? [];
      list.push(i);
      consumers.set(t, list);
    }
  });
  const outputs = new Set(graph.outputs.map((o) => o.tensor));
  return {
    tensor: (id) => {
      const t = tensors.get(id);
      if (!t) throw new Error(`graph: no tensor ${id}`);
      return t;
    },
    producer: (id) => producers.get(id),
    consumers: (id) => consumers.get(id) ?? [],
    isGraphOutput: (id) => outputs.has(id),
  };
}

/** True when `id` is read by exactly the node at `by` and is not a graph output. */
export function onlyUsedBy(index: GraphIndex, id: number, by: number): boolean {
  const c = index.consumers(id);
  return c.length === 1 && c[0] === by && !index.isGraphOutput(id);
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A node to insert: outputs are fresh tensors unless `reuse[i]` names an existing id. */
export interface NewNode {
  readonly op: string;
  readonly inputs: readonly number[];
  readonly attrs: Attrs;
  readonly name?: string;
  readonly reuse?: readonly (number | undefined)[];
}

export type ResolvedNode = Omit<NodeDef, 'id'>;

export class GraphRewriter {
  private readonly tensors: TensorDef[];
  private readonly byId: Map<number, TensorDef>;
  private readonly replacements = new Map<number, readonly ResolvedNode[]>();
  private readonly removed = new Set<number>();
  private nextId: number;

  constructor(private readonly graph: GraphDef) {
    this.tensors = [...graph.tensors];
    this.byId = new Map(graph.tensors.map((t) => [t.id, t]));
    this.nextId = graph.tensors.reduce((m, t) => Math.max(m, t.id + 1), 0);
  }

  /** Adds a tensor (e.g. a merged weight); returns its id. */
  addTensor(def: Omit<TensorDef, 'id'>): number {
    const t: TensorDef = { ...def, id: this.nextId++ };
    this.tensors.push(t);
    this.byId.set(t.id, t);
    return t.id;
  }

  tensor(id: number): TensorDef {
    const t = this.byId.get(id);
    if (!t) throw new Error(`graph: no tensor ${id}`);
    return t;
  }

  /**
   * Resolves a new node's outputs (fresh tensors now, or the reused ids after a shape check),
   * so that the next new node can read them. Place it with `replace`.
   */
  makeNode(n: NewNode): ResolvedNode {
    return { op: n.op, inputs: [...n.inputs], attrs: n.attrs, outputs: this.resolveOutputs(n), ...(n.name ? { name: n.name } : {}) };
  }

  /** Puts `nodes` (from `makeNode`, in order) where node `at` was. */
  replace(at: number, nodes: readonly ResolvedNode[]): void {
    if (this.isTouched(at)) throw new Error(`graph rewrite: node ${at} rewritten twice`);
    this.replacements.set(at, nodes);
  }

  remove(at: number): void {
    if (this.isTouched(at)) throw new Error(`graph rewrite: node ${at} rewritten twice`);
    this.removed.add(at);
  }

  isTouched(at: number): boolean {
    return this.replacements.has(at) || this.removed.has(at);
  }

  finish(): GraphDef {
    const nodes: NodeDef[] = [];
    const push = (n: Omit<NodeDef, 'id'>): void => { nodes.push({ ...n, id: nodes.length }); };
    this.graph.nodes.forEach((node, i) => {
      if (this.removed.has(i)) return;
      const rep = this.replacements.get(i);
      if (!rep) return push(node);
      for (const n of rep) push(n);
    });
    return { tensors: this.tensors, nodes, inputs: this.graph.inputs, outputs: this.graph.outputs };
  }

  private resolveOutputs(n: NewNode): number[] {
    const sigs = getOpSpec(n.op).infer(n.inputs.map((id) => this.tensor(id)), n.attrs);
    return sigs.map((sig, i) => {
      const reuse = n.reuse?.[i];
      if (reuse === undefined) return this.addTensor({ shape: [...sig.shape], dtype: sig.dtype, kind: 'intermediate' });
      const old = this.tensor(reuse);
      if (!sameShape(old.shape, sig.shape) || old.dtype !== sig.dtype) {
        throw new Error(`graph rewrite: ${n.op} output ${i} infers [${sig.shape.join(', ')}] ${sig.dtype}, but tensor ${reuse} is [${old.shape.join(', ')}] ${old.dtype}`);
      }
      return reuse;
    });
  }
}
