/**
 * A network under construction: tensors and nodes appended in topological order by the
 * functional API, shapes inferred as each node is added. `toGraph()` gives the plain IR.
 */
import { ShapeError } from '../errors/index.js';
import { noteNetworkCreated } from './active.js';
import { formatShape } from './ops/common.js';
import { getOpSpec } from './ops/index.js';
import { Tensor } from './tensor.js';
import type { Attrs, DType, Dim, GraphDef, NodeDef, TensorDef, TensorKind } from './types.js';

export class Network {
  private readonly tensors: TensorDef[] = [];
  private readonly nodes: NodeDef[] = [];
  private readonly inputs: number[] = [];
  private readonly outputs: { name: string; tensor: number }[] = [];
  private readonly names = new Set<string>();
  private readonly scopes: string[] = [];

  constructor() {
    noteNetworkCreated(this);
  }

  /** A graph input supplied by name at run time; string dims are symbols (e.g. `num_tokens`). */
  addInput(name: string, shape: readonly Dim[], dtype: DType): Tensor {
    return new Tensor({ name, shape, dtype, network: this });
  }

  /** A named weight; its shape must be static. */
  addWeight(name: string, shape: readonly number[], dtype: DType): Tensor {
    return Tensor.wrap(this, this.declareTensor('weight', name, shape, dtype));
  }

  /** @internal Registers an input or weight tensor. */
  declareTensor(kind: TensorKind, name: string, shape: readonly Dim[], dtype: DType): TensorDef {
    if (this.names.has(name)) throw new ShapeError(`tensor name '${name}' is already used in this network`);
    for (const d of shape) {
      const ok = typeof d === 'string' ? d.length > 0 && kind !== 'weight' : Number.isInteger(d) && d >= 0;
      if (!ok) throw new ShapeError(`${kind} '${name}': bad dim ${JSON.stringify(d)} in shape ${formatShape(shape)}`);
    }
    const def: TensorDef = { id: this.tensors.length, name, shape: [...shape], dtype, kind };
    this.tensors.push(def);
    this.names.add(name);
    if (kind === 'input') this.inputs.push(def.id);
    return def;
  }

  /** Exposes `tensor` as a graph output read by `name`. */
  markOutput(name: string, tensor: Tensor): void {
    this.own(tensor, 'markOutput');
    if (this.outputs.some((o) => o.name === name)) throw new ShapeError(`output '${name}' is already marked`);
    this.outputs.push({ name, tensor: tensor.id });
  }

  /** Appends a node, inferring its outputs' shapes and dtypes (throws `ShapeError`). */
  addNode(op: string, inputs: readonly Tensor[], attrs: Attrs = {}, name?: string): Tensor[] {
    for (const t of inputs) this.own(t, op);
    const sigs = inputs.map((t) => this.tensors[t.id]!);
    const scoped = name ?? (this.scopes.length > 0 ? this.scopes.join('.') : undefined);
    let outs;
    try {
      outs = getOpSpec(op).infer(sigs, attrs);
    } catch (err) {
      if (scoped && err instanceof ShapeError) throw new ShapeError(`${scoped}: ${err.message}`);
      throw err;
    }
    const outIds = outs.map((o) => {
      const def: TensorDef = { id: this.tensors.length, shape: [...o.shape], dtype: o.dtype, kind: 'intermediate' };
      this.tensors.push(def);
      return def.id;
    });
    const node: NodeDef = { id: this.nodes.length, op, inputs: inputs.map((t) => t.id), outputs: outIds, attrs, ...(scoped ? { name: scoped } : {}) };
    this.nodes.push(node);
    return outIds.map((id) => Tensor.wrap(this, this.tensors[id]!));
  }

  /** Runs `fn` with the nodes it adds named `<outer scopes>.name` (e.g. `layers.3.attn`), for logs and errors. */
  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  get numNodes(): number {
    return this.nodes.length;
  }

  /** The plain, serializable graph (a snapshot: later additions do not change it). */
  toGraph(): GraphDef {
    return structuredClone({ tensors: this.tensors, nodes: this.nodes, inputs: this.inputs, outputs: this.outputs });
  }

  private own(t: Tensor, op: string): void {
    if (t.network !== this) throw new ShapeError(`${op}: ${t.toString()} belongs to another network`);
  }
}
