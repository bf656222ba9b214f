/**
 * The functional API: each call appends one node to the network of its inputs and returns
 * the output tensor(s), with shapes and dtypes inferred (a mismatch throws `ShapeError`).
 */
import { ShapeError } from '../errors/index.js';
import type { RopeScaling } from '../models/config.js';
import { encodeDims } from './ops/common.js';
import type { Activation } from './ops/linear.js';
import type { Tensor } from './tensor.js';
import type { Attrs, DType, Dim } from './types.js';

function node(op: string, inputs: readonly Tensor[], attrs: Attrs = {}): Tensor[] {
  const first = inputs[0];
  if (!first) throw new ShapeError(`${op}: needs at least one input tensor`);
  return first.network.addNode(op, inputs, attrs);
}

function one(op: string, inputs: readonly Tensor[], attrs: Attrs = {}): Tensor {
  return node(op, inputs, attrs)[0]!;
}

/** a [..., K] · b [K, N] → [..., N]; with `transposeB`, b is [N, K] (the HF Linear layout). */
export function matmul(a: Tensor, b: Tensor, options: { transposeB?: boolean } = {}): Tensor {
  return one('matmul', [a, b], { transposeB: options.transposeB ?? false });
}

export const add = (a: Tensor, b: Tensor): Tensor => one('add', [a, b]);
export const sub = (a: Tensor, b: Tensor): Tensor => one('sub', [a, b]);
export const mul = (a: Tensor, b: Tensor): Tensor => one('mul', [a, b]);
export const div = (a: Tensor, b: Tensor): Tensor => one('div', [a, b]);
export const relu = (x: Tensor): Tensor => one('relu', [x]);
/** GELU, exact erf form. */
export const gelu = (x: Tensor): Tensor => one('gelu', [x]);
export const silu = (x: Tensor): Tensor => one('silu', [x]);
export const softmax = (x: Tensor, axis = -1): Tensor => one('softmax', [x], { axis });

export function rmsnorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  return one('rmsnorm', [x, weight], { eps });
}

export function layernorm(x: Tensor, weight: Tensor, bias: Tensor | null, eps: number): Tensor {
  return one('layernorm', bias ? [x, weight, bias] : [x, weight], { eps });
}

/** ids int32 [T] → rows of table [V, H]: [T, H]. */
export const embedding = (ids: Tensor, table: Tensor): Tensor => one('embedding', [ids, table]);
/** x [T, H], idx int32 [S] → [S, H]. */
export const gatherRows = (x: Tensor, idx: Tensor): Tensor => one('gather_rows', [x, idx]);

/** One dim may be -1 (inferred); string dims are symbols of the input shape. */
export function reshape(x: Tensor, shape: readonly Dim[]): Tensor {
  return one('reshape', [x], { shape: encodeDims(shape) });
}

export const transpose = (x: Tensor, perm: readonly number[]): Tensor => one('transpose', [x], { perm: [...perm] });
export const permute = transpose;
export const concat = (xs: readonly Tensor[], axis: number): Tensor => one('concat', xs, { axis });

/** Elements [start, end) of `axis`. */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  return one('slice', [x], { axis, start, end });
}

export function split(x: Tensor, sizes: readonly number[], axis: number): Tensor[] {
  return node('split', [x], { sizes: [...sizes], axis });
}

export const cast = (x: Tensor, dtype: DType): Tensor => one('cast', [x], { dtype });

export interface RopeOptions {
  readonly numHeads: number;
  readonly headDim: number;
  readonly theta: number;
  readonly scaling: RopeScaling;
}

/** Rotary embedding of x [T, nH·hd] at int32 positions [T], HF rotate_half layout. */
export function rope(x: Tensor, positions: Tensor, options: RopeOptions): Tensor {
  const { numHeads, headDim, theta, scaling } = options;
  return one('rope', [x, positions], { numHeads, headDim, theta, scaling: { ...scaling } });
}

export interface AttentionOptions {
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  /** Which layer's KV pool this op reads and writes. */
  readonly layer: number;
  /** Softmax scale; default 1/sqrt(headDim). */
  readonly scale?: number;
}

/**
 * Writes this step's k, v into the paged KV cache, then causal GQA attention of each
 * sequence's queries over its cached context (metadata from `StepInputs.attention`).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions): Tensor {
  const { numHeads, numKvHeads, headDim, layer } = options;
  return one('attention', [q, k, v], { numHeads, numKvHeads, headDim, layer, scale: options.scale ?? null });
}

// Fused ops, normally introduced by builder passes; exposed for passes and tests.

export interface FusedMatmulOptions {
  readonly transposeB?: boolean;
  readonly activation?: Activation;
}

/** act(a · b (+ bias)). */
export function fusedMatmul(a: Tensor, b: Tensor, bias: Tensor | null, options: FusedMatmulOptions = {}): Tensor {
  const attrs = { transposeB: options.transposeB ?? false, hasBias: bias !== null, activation: options.activation ?? 'none' };
  return one('fused_matmul', bias ? [a, b, bias] : [a, b], attrs);
}

/** Returns [rmsnorm(x + residual, weight), x + residual]. */
export function addRmsnorm(x: Tensor, residual: Tensor, weight: Tensor, eps: number): [Tensor, Tensor] {
  const [normed, sum] = node('add_rmsnorm', [x, residual, weight], { eps });
  return [normed!, sum!];
}

/** [.., 2I] → [.., I]: silu(first half) · second half. */
export const siluMul = (x: Tensor): Tensor => one('silu_mul', [x]);
