/** The CPU backend's activation: a typed array plus a concrete shape. */

/** Float tensors are Float32Array; int32 tensors Int32Array. */
export type CpuData = Float32Array | Int32Array;

export interface Buf {
  readonly data: CpuData;
  readonly shape: readonly number[];
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function f32(b: Buf, what: string): Float32Array {
  if (!(b.data instanceof Float32Array)) throw new Error(`${what}: expected float data, got int32`);
  return b.data;
}

export function i32(b: Buf, what: string): Int32Array {
  if (!(b.data instanceof Int32Array)) throw new Error(`${what}: expected int32 data, got float`);
  return b.data;
}

/** Row-major strides of `shape`. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Splits `shape` at `axis` into (outer, dim, inner) element counts. */
export function around(shape: readonly number[], axis: number): { outer: number; dim: number; inner: number } {
  return { outer: numel(shape.slice(0, axis)), dim: shape[axis]!, inner: numel(shape.slice(axis + 1)) };
}
