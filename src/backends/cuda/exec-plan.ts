/**
 * The static execution plan of the CUDA context: the engine's fused graph turned, once at load,
 * into a list of launches over arena slots (plain data, no device work). Every activation is bf16
 * (the LM head's float32 logits excepted) and lives in a slot [maxRows, cols]; split outputs are
 * column views of their input, casts and reshapes are aliases, `add_rmsnorm` updates its residual in
 * place and `rope` is folded into the attention that reads it (rope_write_kv rotates q in place and
 * writes the rotated k and v into the paged cache). Slots are reused once every tensor in them is dead.
 */
import { BackendError } from '../../errors/index.js';
import { activationAttr } from '../../graph/ops/index.js';
import type { Attrs, GraphDef, NodeDef, TensorDef } from '../../graph/types.js';
import type { GemmEpilogue } from './gemm.js';
import { fp8GemmUnsupported } from './gemm-fp8.js';

/** A bf16 (or f32) activation: rows of `cols` elements at `col` inside a slot whose rows are `stride` wide. */
export interface ActRef {
  readonly kind: 'act';
  readonly slot: number;
  readonly col: number;
  readonly stride: number;
  readonly cols: number;
  readonly f32: boolean;
}
export interface WeightRef { readonly kind: 'weight'; readonly name: string }
export interface InputRef { readonly kind: 'input'; readonly name: string }
/** A `rope` output not computed yet: the attention that reads it applies it. */
export interface RopeRef { readonly kind: 'rope'; readonly src: ActRef; readonly attrs: Attrs }
export type Ref = ActRef | WeightRef | InputRef | RopeRef;

export type PlanOp =
  | { readonly op: 'embedding'; readonly ids: InputRef; readonly table: string; readonly out: ActRef; readonly rowsDim: string }
  | { readonly op: 'gather'; readonly x: ActRef; readonly idx: InputRef; readonly out: ActRef; readonly rowsDim: string }
  | { readonly op: 'norm'; readonly x: ActRef; readonly residual: ActRef | null; readonly weight: string; readonly out: ActRef; readonly eps: number; readonly rowsDim: string }
  | { readonly op: 'gemm'; readonly x: ActRef; readonly weight: string; readonly bias: string | null; readonly out: ActRef;
    readonly n: number; readonly k: number; readonly epilogue: GemmEpilogue; readonly rowsDim: string }
  | { readonly op: 'silu_mul'; readonly x: ActRef; readonly out: ActRef; readonly rowsDim: string }
  | { readonly op: 'attention'; readonly q: RopeRef; readonly k: RopeRef; readonly v: ActRef; readonly out: ActRef;
    readonly layer: number; readonly scale: number;
    /** fp8 KV cache engines (quantize pass attrs kvCacheDtype 'fp8e4m3', kScale, vScale): the layer's scales; null otherwise. */
    readonly kvScales?: { readonly k: number; readonly v: number } | null }
  /** Tensor parallelism (tp/): sum over ranks in place (NCCL, the step's stream); `out` is `x`. */
  | { readonly op: 'all_reduce'; readonly x: ActRef; readonly out: ActRef; readonly tpSize: number; readonly rowsDim: string }
  /** Ranks' [rows, x.cols] concatenated along columns into out [rows, x.cols·tpSize], through `staging` [tpSize, rows, x.cols]. */
  | { readonly op: 'all_gather'; readonly x: ActRef; readonly staging: ActRef; readonly out: ActRef; readonly tpSize: number; readonly rowsDim: string }
  | Fp8GemmOp | WoGemmOp
  /** Unfused elementwise ops of quantized graphs (unmerged gate/up, separate biases): out = silu(x); out = x + y or x · y (y a weight [cols]: broadcast over rows). */
  | { readonly op: 'silu'; readonly x: ActRef; readonly out: ActRef; readonly rowsDim: string }
  | { readonly op: 'binary'; readonly x: ActRef; readonly y: ActRef | WeightRef; readonly mul: boolean; readonly out: ActRef; readonly rowsDim: string };

/** fp8_matmul: quantize x to e4m3 (static input_scale or dynamic per-token), FP8 cuBLASLt GEMM, rescale unless both scales fuse. */
export interface Fp8GemmOp {
  readonly op: 'fp8_gemm'; readonly x: ActRef; readonly weight: string; readonly weightScale: string;
  /** Static activation scale (float32 [1]); null: dynamic per-token scales. */
  readonly inputScale: string | null;
  /** weight_scale is [N] (per output channel) rather than [1]. */
  readonly perChannel: boolean;
  readonly out: ActRef; readonly n: number; readonly k: number; readonly rowsDim: string;
}
/** wo_matmul: GEMV with in-register dequantization for few rows (when `gemv`), else dequantize to a scratch weight and GEMM. */
export interface WoGemmOp {
  readonly op: 'wo_gemm'; readonly x: ActRef; readonly weight: string; readonly scales: string;
  readonly zeros: string | null; readonly preScale: string | null; readonly bits: 4 | 8; readonly groupSize: number;
  readonly out: ActRef; readonly n: number; readonly k: number;
  /** The GEMV kernel applies: K and groupSize are multiples of its 16-byte chunk (32 int4 / 16 int8 columns). */
  readonly gemv: boolean;
  readonly rowsDim: string;
}

export interface ExecPlan {
  readonly ops: readonly PlanOp[];
  /** Bytes of each arena slot. */
  readonly slotBytes: readonly number[];
  readonly outputs: readonly { readonly name: string; readonly ref: ActRef }[];
}

/** Rows each symbolic first dim can reach (e.g. num_tokens → bucketed maxNumTokens). */
export type MaxRows = (dim: string) => number;

const fail = (node: NodeDef, why: string): never => {
  throw new BackendError(`CUDA backend cannot run node ${node.id} (${node.op}${node.name ? `, ${node.name}` : ''}): ${why}; rebuild the engine with this Kiln's \`kiln build --target cuda\``);
};

function gemmEpilogue(node: NodeDef): GemmEpilogue {
  if (node.attrs['transposeB'] !== true) fail(node, 'matmul without transposeB (weights must be [N, K])');
  if (node.op === 'matmul') return 'none';
  const act = activationAttr(node.op, node.attrs);
  const bias = node.attrs['hasBias'] === true;
  if (act === 'none') return bias ? 'bias' : 'none';
  if (act === 'gelu' || act === 'relu') return bias ? `${act}_bias` : act;
  return fail(node, `a ${act} epilogue has no cuBLASLt equivalent`);
}

/** Tensor ids that must be float32: graph outputs and, through casts/reshapes, what produces them. */
function float32Tensors(graph: GraphDef): Set<number> {
  const producer = new Map<number, NodeDef>();
  for (const n of graph.nodes) for (const o of n.outputs) producer.set(o, n);
  const out = new Set<number>();
  for (const o of graph.outputs) {
    let id: number | undefined = o.tensor;
    while (id !== undefined && !out.has(id)) {
      out.add(id);
      const p = producer.get(id);
      id = p && (p.op === 'cast' || p.op === 'reshape' || p.op === 'all_gather') ? p.inputs[0] : undefined;
    }
  }
  return out;
}

class SlotAllocator {
  readonly bytes: number[] = [];
  private readonly refs: number[] = [];
  private readonly free = new Set<number>();
  take(bytes: number): number {
    let best = -1;
    for (const s of this.free) if (best < 0 || Math.abs(this.bytes[s]! - bytes) < Math.abs(this.bytes[best]! - bytes)) best = s;
    if (best < 0) {
      best = this.bytes.length;
      this.bytes.push(0);
      this.refs.push(0);
    }
    this.free.delete(best);
    this.bytes[best] = Math.max(this.bytes[best]!, bytes);
    return best;
  }
  hold(slot: number): void { this.refs[slot]!++; }
  release(slot: number): void {
    if (--this.refs[slot]! === 0) this.free.add(slot);
  }
}

/** Plans `graph` for the CUDA context. Throws `BackendError` naming the first node it cannot run. */
export function planExecution(graph: GraphDef, maxRows: MaxRows): ExecPlan {
  const f32 = float32Tensors(graph);
  const lastUse = new Array<number>(graph.tensors.length).fill(-1);
  graph.nodes.forEach((n, i) => { for (const id of n.inputs) lastUse[id] = i; });
  for (const o of graph.outputs) lastUse[o.tensor] = Infinity;
  const refs = new Map<number, Ref>();
  for (const t of graph.tensors) {
    if (t.kind === 'weight') refs.set(t.id, { kind: 'weight', name: t.name! });
    if (t.kind === 'input') refs.set(t.id, { kind: 'input', name: t.name! });
  }
  const slots = new SlotAllocator();
  const ops: PlanOp[] = [];
  const newAct = (t: TensorDef): ActRef => {
    const cols = Number(t.shape[t.shape.length - 1]);
    const rowsDim = String(t.shape[0]);
    const isF32 = f32.has(t.id);
    const slot = slots.take(maxRows(rowsDim) * cols * (isF32 ? 4 : 2));
    return { kind: 'act', slot, col: 0, stride: cols, cols, f32: isF32 };
  };
  graph.nodes.forEach((node, i) => {
    if ((node.op === 'add_rmsnorm' || node.op === 'all_reduce') && lastUse[node.inputs[0]!] !== i) fail(node, 'its input is read again later, so it cannot be updated in place');
    const outs = lowerNode(graph, node, (id) => refs.get(id) ?? fail(node, `input tensor ${id} has no value`), newAct, ops);
    node.outputs.forEach((id, k) => {
      const r = outs[k]!;
      refs.set(id, r);
      const slot = r.kind === 'act' ? r.slot : r.kind === 'rope' ? r.src.slot : -1;
      if (slot >= 0) slots.hold(slot);
    });
    for (const id of new Set([...node.inputs, ...node.outputs])) {
      if (lastUse[id] !== Infinity && (lastUse[id]! <= i) && graph.tensors[id]!.kind === 'intermediate') {
        const r = refs.get(id);
        const slot = r?.kind === 'act' ? r.slot : r?.kind === 'rope' ? r.src.slot : -1;
        if (slot >= 0) slots.release(slot);
      }
    }
  });
  const outputs = graph.outputs.map((o) => {
    const r = refs.get(o.tensor);
    if (r?.kind !== 'act' || !r.f32 || r.stride !== r.cols) throw new BackendError(`CUDA backend: output '${o.name}' is not a float32 matmul result; rebuild the engine`);
    return { name: o.name, ref: r };
  });
  return { ops, slotBytes: slots.bytes, outputs };
}

type Get = (id: number) => Ref;

/** An fp8 KV cache attention's per-layer scales (positive numbers), else null. */
function kvScalesAttr(node: NodeDef): { k: number; v: number } | null {
  if (node.attrs['kvCacheDtype'] !== 'fp8e4m3') return null;
  const k = node.attrs['kScale'], v = node.attrs['vScale'];
  if (typeof k !== 'number' || typeof v !== 'number' || !(k > 0) || !(v > 0)) return fail(node, 'an fp8 KV cache attention needs positive kScale and vScale attrs');
  return { k, v };
}

function lowerFp8(graph: GraphDef, node: NodeDef, inp: readonly Ref[], out: ActRef, rowsDim: string): Fp8GemmOp {
  const w = graph.tensors[node.inputs[1]!]!;
  const n = Number(w.shape[0]), k = Number(w.shape[1]);
  const why = fp8GemmUnsupported(n, k, out.f32 ? 'float32' : 'bfloat16');
  if (why) fail(node, why);
  const isStatic = node.attrs['activationScale'] === 'static';
  return {
    op: 'fp8_gemm', x: act(node, inp[0]!, 'x'), weight: weightName(node, inp[1]!), weightScale: weightName(node, inp[2]!),
    inputScale: isStatic ? weightName(node, inp[3]!) : null, perChannel: Number(graph.tensors[node.inputs[2]!]!.shape[0]) !== 1, out, n, k, rowsDim,
  };
}

function lowerWo(graph: GraphDef, node: NodeDef, inp: readonly Ref[], out: ActRef, rowsDim: string): WoGemmOp {
  const bits = Number(node.attrs['bits']);
  const groupSize = Number(node.attrs['groupSize']);
  const k = Number(node.attrs['inFeatures']);
  const n = Number(graph.tensors[node.inputs[1]!]!.shape[0]);
  if (bits !== 4 && bits !== 8) return fail(node, `${bits}-bit weights are not supported (4 or 8)`);
  if (k % 8 !== 0) fail(node, `K = ${k} is not a multiple of 8 (the dequantized bf16 GEMM needs 16-byte rows)`);
  const hasZeros = node.attrs['hasZeros'] === true, hasPre = node.attrs['hasPreScale'] === true;
  const chunk = bits === 4 ? 32 : 16;
  return {
    op: 'wo_gemm', x: act(node, inp[0]!, 'x'), weight: weightName(node, inp[1]!), scales: weightName(node, inp[2]!),
    zeros: hasZeros ? weightName(node, inp[3]!) : null, preScale: hasPre ? weightName(node, inp[hasZeros ? 4 : 3]!) : null,
    bits, groupSize, out, n, k, gemv: k % chunk === 0 && groupSize % chunk === 0, rowsDim,
  };
}

function act(node: NodeDef, r: Ref, what: string, contiguous = true): ActRef {
  if (r.kind !== 'act') return fail(node, `${what} must be an activation, got a ${r.kind}`);
  if (contiguous && (r.stride !== r.cols || r.col !== 0)) fail(node, `${what} must be contiguous`);
  return r;
}
const weightName = (node: NodeDef, r: Ref): string => (r.kind === 'weight' ? r.name : fail(node, 'expected a weight operand'));
const inputRef = (node: NodeDef, r: Ref): InputRef => (r.kind === 'input' ? r : fail(node, 'expected a graph input (input_ids, logits_indices)'));

/** Emits `node`'s launches (if any) and returns a Ref per output. */
function lowerNode(graph: GraphDef, node: NodeDef, get: Get, newAct: (t: TensorDef) => ActRef, ops: PlanOp[]): Ref[] {
  const outT = (k: number): TensorDef => graph.tensors[node.outputs[k]!]!;
  const rowsDim = String(outT(0).shape[0]);
  const inp = node.inputs.map(get);
  switch (node.op) {
    case 'embedding': {
      const out = newAct(outT(0));
      ops.push({ op: 'embedding', ids: inputRef(node, inp[0]!), table: weightName(node, inp[1]!), out, rowsDim });
      return [out];
    }
    case 'gather_rows': {
      const out = newAct(outT(0));
      ops.push({ op: 'gather', x: act(node, inp[0]!, 'x'), idx: inputRef(node, inp[1]!), out, rowsDim });
      return [out];
    }
    case 'cast': case 'reshape':
      if (node.op === 'reshape' && act(node, inp[0]!, 'x').cols !== Number(outT(0).shape.at(-1))) fail(node, 'only row-preserving reshapes are supported');
      return [inp[0]!];
    case 'rmsnorm': {
      const out = newAct(outT(0));
      ops.push({ op: 'norm', x: act(node, inp[0]!, 'x'), residual: null, weight: weightName(node, inp[1]!), out, eps: Number(node.attrs['eps']), rowsDim });
      return [out];
    }
    case 'add_rmsnorm': {
      const residual = act(node, inp[0]!, 'residual');
      const out = newAct(outT(0));
      ops.push({ op: 'norm', x: act(node, inp[1]!, 'x'), residual, weight: weightName(node, inp[2]!), out, eps: Number(node.attrs['eps']), rowsDim });
      return [out, residual]; // the new residual is written in place over input 0
    }
    case 'matmul': case 'fused_matmul': {
      const epilogue = gemmEpilogue(node);
      const x = act(node, inp[0]!, 'x');
      const w = graph.tensors[node.inputs[1]!]!;
      const out = newAct(outT(0));
      const bias = epilogue.endsWith('bias') ? weightName(node, inp[2]!) : null;
      ops.push({ op: 'gemm', x, weight: weightName(node, inp[1]!), bias, out, n: Number(w.shape[0]), k: Number(w.shape[1]), epilogue, rowsDim });
      return [out];
    }
    case 'split': {
      const x = act(node, inp[0]!, 'x');
      const sizes = node.attrs['sizes'] as readonly number[];
      const axis = Number(node.attrs['axis']);
      if (axis !== -1 && axis !== graph.tensors[node.inputs[0]!]!.shape.length - 1) fail(node, 'only splits along the last axis are supported');
      let col = x.col;
      return sizes.map((cols) => { const r: ActRef = { ...x, col, cols }; col += cols; return r; });
    }
    case 'silu_mul': {
      const out = newAct(outT(0));
      ops.push({ op: 'silu_mul', x: act(node, inp[0]!, 'x'), out, rowsDim });
      return [out];
    }
    case 'rope':
      return [{ kind: 'rope', src: act(node, inp[0]!, 'x', false), attrs: node.attrs }];
    case 'attention': {
      const [q, k, v] = inp;
      if (q?.kind !== 'rope' || k?.kind !== 'rope') return fail(node, 'q and k must come straight from rope (the kernel fuses them)');
      const out = newAct(outT(0));
      const headDim = Number(node.attrs['headDim']);
      const scale = typeof node.attrs['scale'] === 'number' ? node.attrs['scale'] : 1 / Math.sqrt(headDim);
      ops.push({ op: 'attention', q, k, v: act(node, v!, 'v', false), out, layer: Number(node.attrs['layer']), scale, kvScales: kvScalesAttr(node) });
      return [out];
    }
    case 'silu': {
      const out = newAct(outT(0));
      ops.push({ op: 'silu', x: act(node, inp[0]!, 'x', false), out, rowsDim });
      return [out];
    }
    case 'add': case 'mul': {
      const [xi, yi] = inp[0]!.kind === 'act' ? [0, 1] : [1, 0];
      const x = act(node, inp[xi]!, 'x', false), y = inp[yi]!, yShape = graph.tensors[node.inputs[yi]!]!.shape;
      const ok = y.kind === 'weight' ? yShape.length === 1 && Number(yShape[0]) === x.cols : act(node, y, 'y', false).cols === x.cols;
      if (!ok || x.f32) fail(node, 'only same-shape bf16 activations, or one and a [cols] weight broadcast over rows, are supported');
      const out = newAct(outT(0));
      ops.push({ op: 'binary', x, y: y as ActRef | WeightRef, mul: node.op === 'mul', out, rowsDim });
      return [out];
    }
    case 'fp8_matmul': case 'wo_matmul': {
      const out = newAct(outT(0));
      ops.push(node.op === 'fp8_matmul' ? lowerFp8(graph, node, inp, out, rowsDim) : lowerWo(graph, node, inp, out, rowsDim));
      return [out];
    }
    case 'all_reduce': {
      const x = act(node, inp[0]!, 'x');
      ops.push({ op: 'all_reduce', x, out: x, tpSize: Number(node.attrs['tpSize']), rowsDim });
      return [x]; // NCCL reduces in place
    }
    case 'all_gather': {
      const out = newAct(outT(0));
      const staging = newAct(outT(0)); // freed with the node: the slot allocator reuses it after
      ops.push({ op: 'all_gather', x: act(node, inp[0]!, 'x'), staging, out, tpSize: Number(node.attrs['tpSize']), rowsDim });
      return [out];
    }
    default:
      return fail(node, `op '${node.op}' has no CUDA implementation`);
  }
}
