/** The CPU kernel table: one function per op (primitive and fused), over float32/int32 buffers. */
import { BackendError } from '../../../errors/index.js';
import { activationAttr, ropeScalingAttr } from '../../../graph/ops/index.js';
import type { Attrs, DType, NodeDef } from '../../../graph/types.js';
import type { AttentionMetadata } from '../../types.js';
import { f32, i32, numel, type Buf } from '../buffer.js';
import type { CpuKvCache } from '../kv-cache.js';
import { pagedAttention } from './attention.js';
import { COLLECTIVE_KERNELS } from './collective.js';
import { activate, binary, cast, siluMul, softmax, type BinaryOp } from './elementwise.js';
import { concat, gatherRows, slice, split, transpose } from './layout.js';
import { matmulTransB, transpose2d } from './matmul.js';
import { addRmsnorm, layernorm, rmsnorm } from './norm.js';
import { fp8MatmulKernel, woMatmulKernel } from './quant.js';
import { RopeTable } from './rope.js';

/** What kernels may use besides their inputs; owned by the context. */
export interface KernelEnv {
  readonly kvCache: CpuKvCache | undefined;
  readonly attention: AttentionMetadata | undefined;
  /** [N, K] copy of a weight used as a non-transposed matmul operand, by tensor id. */
  transposedWeight(tensorId: number): Float32Array | undefined;
  ropeTable(attrs: Attrs): RopeTable;
}

type Kernel = (x: readonly Buf[], node: NodeDef, outShapes: readonly number[][], env: KernelEnv) => Buf[];

const num = (attrs: Attrs, k: string): number => attrs[k] as number;
const arg = (x: readonly Buf[], i: number): Buf => x[i]!;
const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

function matmulKernel(x: readonly Buf[], node: NodeDef, outShapes: readonly number[][], env: KernelEnv): Buf[] {
  const a = arg(x, 0), b = arg(x, 1);
  const transposeB = node.attrs['transposeB'] === true;
  const k = a.shape[a.shape.length - 1]!;
  const n = transposeB ? b.shape[0]! : b.shape[1]!;
  const m = a.data.length / k;
  const w = transposeB ? f32(b, node.op) : env.transposedWeight(node.inputs[1]!) ?? transpose2d(f32(b, node.op), k, n);
  const bias = node.op === 'fused_matmul' && node.attrs['hasBias'] === true ? f32(arg(x, 2), 'bias') : undefined;
  const out = new Float32Array(m * n);
  matmulTransB(f32(a, node.op), w, out, m, k, n, bias);
  if (node.op === 'fused_matmul') activate(activationAttr(node.op, node.attrs), out);
  return [{ data: out, shape: outShapes[0]! }];
}

function binaryKernel(op: BinaryOp): Kernel {
  return (x, _node, outShapes) => {
    const shape = outShapes[0]!;
    const a = arg(x, 0), b = arg(x, 1);
    const isInt = a.data instanceof Int32Array && b.data instanceof Int32Array;
    const out = isInt ? new Int32Array(numel(shape)) : new Float32Array(numel(shape));
    binary(op, a, b, out, shape);
    return [{ data: out, shape }];
  };
}

function unaryKernel(act: 'relu' | 'gelu' | 'silu'): Kernel {
  return (x, node) => {
    const data = Float32Array.from(f32(arg(x, 0), node.op));
    activate(act, data);
    return [{ data, shape: arg(x, 0).shape }];
  };
}

const softmaxKernel: Kernel = (x, node) => {
  const a = arg(x, 0);
  const out = new Float32Array(a.data.length);
  softmax(f32(a, 'softmax'), out, a.shape, normAxis((node.attrs['axis'] as number | undefined) ?? -1, a.shape.length));
  return [{ data: out, shape: a.shape }];
};

function normKernel(op: 'rmsnorm' | 'layernorm'): Kernel {
  return (x, node) => {
    const a = arg(x, 0);
    const h = a.shape[a.shape.length - 1]!;
    const out = new Float32Array(a.data.length);
    const eps = num(node.attrs, 'eps');
    if (op === 'rmsnorm') rmsnorm(f32(a, op), f32(arg(x, 1), op), out, h, eps);
    else layernorm(f32(a, op), f32(arg(x, 1), op), x[2] ? f32(x[2], op) : undefined, out, h, eps);
    return [{ data: out, shape: a.shape }];
  };
}

const addRmsnormKernel: Kernel = (x, node) => {
  const a = arg(x, 0);
  const h = a.shape[a.shape.length - 1]!;
  const normed = new Float32Array(a.data.length), sum = new Float32Array(a.data.length);
  addRmsnorm(f32(a, 'add_rmsnorm'), f32(arg(x, 1), 'add_rmsnorm'), f32(arg(x, 2), 'add_rmsnorm'), normed, sum, h, num(node.attrs, 'eps'));
  return [{ data: normed, shape: a.shape }, { data: sum, shape: a.shape }];
};

const siluMulKernel: Kernel = (x, _node, outShapes) => {
  const a = arg(x, 0);
  const inter = a.shape[a.shape.length - 1]! / 2;
  const out = new Float32Array(a.data.length / 2);
  siluMul(f32(a, 'silu_mul'), out, a.data.length / (2 * inter), inter);
  return [{ data: out, shape: outShapes[0]! }];
};

function gatherKernel(op: 'embedding' | 'gather_rows', tableArg: number, idsArg: number): Kernel {
  return (x, _node, outShapes) => {
    const table = arg(x, tableArg);
    const data = gatherRows(f32(table, op), table.shape[0]!, table.shape[1]!, i32(arg(x, idsArg), op), op);
    return [{ data, shape: outShapes[0]! }];
  };
}

const ropeKernel: Kernel = (x, node, _o, env) => {
  const a = arg(x, 0);
  const out = new Float32Array(a.data.length);
  env.ropeTable(node.attrs).apply(f32(a, 'rope'), i32(arg(x, 1), 'rope'), out, num(node.attrs, 'numHeads'));
  return [{ data: out, shape: a.shape }];
};

const attentionKernel: Kernel = (x, node, _o, env) => {
  if (!env.kvCache) throw new BackendError('the graph has attention ops but the context has no KV cache; pass { kvCache } to createContext');
  if (!env.attention) throw new BackendError('the graph has attention ops but this step has no attention metadata; pass StepInputs.attention');
  const q = arg(x, 0);
  const headDim = num(node.attrs, 'headDim');
  const scale = typeof node.attrs['scale'] === 'number' ? node.attrs['scale'] : 1 / Math.sqrt(headDim);
  const params = { numHeads: num(node.attrs, 'numHeads'), numKvHeads: num(node.attrs, 'numKvHeads'), headDim, layer: num(node.attrs, 'layer'), scale };
  const out = new Float32Array(q.data.length);
  applyKvScales(env.kvCache, node);
  pagedAttention(env.kvCache, env.attention, params, f32(q, 'attention'), f32(arg(x, 1), 'attention'), f32(arg(x, 2), 'attention'), out);
  return [{ data: out, shape: q.shape }];
};

/** An fp8 KV cache engine (quantize pass attrs) needs an fp8 cache; its per-layer scales are set before each write. */
function applyKvScales(cache: CpuKvCache, node: NodeDef): void {
  if (node.attrs['kvCacheDtype'] !== 'fp8e4m3') return;
  if (cache.spec.dtype !== 'fp8e4m3') throw new BackendError(`attention layer ${String(node.attrs['layer'])}: this engine was built with --kv_cache_dtype fp8 but the KV cache is ${cache.spec.dtype}; create the context with kvCache.dtype 'fp8e4m3'`);
  cache.setLayerScales(num(node.attrs, 'layer'), num(node.attrs, 'kScale'), num(node.attrs, 'vScale'));
}

const KERNELS: Record<string, Kernel> = {
  matmul: matmulKernel,
  fused_matmul: matmulKernel,
  add: binaryKernel('add'), sub: binaryKernel('sub'), mul: binaryKernel('mul'), div: binaryKernel('div'),
  relu: unaryKernel('relu'), gelu: unaryKernel('gelu'), silu: unaryKernel('silu'),
  softmax: softmaxKernel,
  rmsnorm: normKernel('rmsnorm'), layernorm: normKernel('layernorm'), add_rmsnorm: addRmsnormKernel,
  silu_mul: siluMulKernel,
  embedding: gatherKernel('embedding', 1, 0),
  gather_rows: gatherKernel('gather_rows', 0, 1),
  reshape: (x, _n, outShapes) => [{ data: arg(x, 0).data, shape: outShapes[0]! }],
  transpose: (x, node) => [transpose(arg(x, 0), node.attrs['perm'] as number[])],
  concat: (x, node) => [concat(x, normAxis(num(node.attrs, 'axis'), arg(x, 0).shape.length))],
  slice: (x, node) => [slice(arg(x, 0), normAxis(num(node.attrs, 'axis'), arg(x, 0).shape.length), num(node.attrs, 'start'), num(node.attrs, 'end'))],
  split: (x, node) => split(arg(x, 0), node.attrs['sizes'] as number[], normAxis(num(node.attrs, 'axis'), arg(x, 0).shape.length)),
  cast: (x, node) => [{ data: cast(arg(x, 0).data, node.attrs['dtype'] as DType), shape: arg(x, 0).shape }],
  rope: ropeKernel,
  attention: attentionKernel,
  fp8_matmul: fp8MatmulKernel,
  wo_matmul: woMatmulKernel,
  ...COLLECTIVE_KERNELS,
};

export function tryGetKernel(op: string): Kernel | undefined {
  return KERNELS[op];
}

/** Key of a rope configuration (one cached cos/sin table per key). */
export function ropeKey(attrs: Attrs): string {
  return JSON.stringify([attrs['headDim'], attrs['theta'], ropeScalingAttr('rope', attrs['scaling'])]);
}

export type { Kernel };
