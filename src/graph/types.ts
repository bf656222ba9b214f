/**
 * The graph IR: plain, serializable data. The functional API (`functional.ts`) builds it,
 * builder passes rewrite it, the engine file stores it and backends execute it.
 */

/** Element types a tensor can have. Activations on the CPU backend are computed in float32. */
export type DType = 'float32' | 'float16' | 'bfloat16' | 'fp8e4m3' | 'int32' | 'int8' | 'uint8';

/** A dimension: a fixed size, or a symbol (e.g. `num_tokens`) bound when the graph runs. */
export type Dim = number | string;
export type Shape = readonly Dim[];

export type AttrValue = number | string | boolean | null | readonly number[] | readonly string[] | { readonly [k: string]: AttrValue };
export type Attrs = { readonly [k: string]: AttrValue };

/** Where a tensor's value comes from. */
export type TensorKind =
  /** supplied by the caller at run time (by name) */
  | 'input'
  /** a named weight whose bytes live in the engine's weight sections */
  | 'weight'
  /** produced by a node */
  | 'intermediate';

export interface TensorDef {
  readonly id: number;
  /** Unique among inputs and weights; optional for intermediates. */
  readonly name?: string;
  readonly shape: Shape;
  readonly dtype: DType;
  readonly kind: TensorKind;
}

export interface NodeDef {
  readonly id: number;
  /** One of `OpName` (or a fused op introduced by a builder pass). */
  readonly op: string;
  /** Tensor ids, in the op's argument order. */
  readonly inputs: readonly number[];
  /** Tensor ids this node produces. */
  readonly outputs: readonly number[];
  readonly attrs: Attrs;
  /** Human-readable origin (e.g. `layers.3.attn.qkv`), for logs and errors. */
  readonly name?: string;
}

/** A whole network. Node order is a valid topological order. */
export interface GraphDef {
  readonly tensors: readonly TensorDef[];
  readonly nodes: readonly NodeDef[];
  /** Tensor ids of the graph inputs, in declaration order. */
  readonly inputs: readonly number[];
  /** Tensor ids of the graph outputs, with the names callers read them by. */
  readonly outputs: readonly { readonly name: string; readonly tensor: number }[];
}

/**
 * The primitive ops of the functional API. Builder passes add fused ops:
 * `fused_matmul` (matmul + optional bias + optional activation), `add_rmsnorm`
 * (residual add + RMSNorm, two outputs: normed and the new residual), `silu_mul`
 * (SiLU(gate) · up over a merged [.., 2·I] input).
 */
export type OpName =
  | 'matmul' | 'add' | 'sub' | 'mul' | 'div'
  | 'relu' | 'gelu' | 'silu' | 'softmax'
  | 'rmsnorm' | 'layernorm' | 'embedding'
  | 'reshape' | 'transpose' | 'concat' | 'slice' | 'split' | 'cast'
  | 'rope' | 'attention' | 'gather_rows';
