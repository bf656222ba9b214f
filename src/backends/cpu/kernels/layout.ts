/** Data-movement kernels: transpose, concat, slice, split, embedding, gather_rows. */
import { BackendError } from '../../../errors/index.js';
import { around, numel, stridesOf, type Buf, type CpuData } from '../buffer.js';

function like(x: CpuData, n: number): CpuData {
  return x instanceof Int32Array ? new Int32Array(n) : new Float32Array(n);
}

export function transpose(x: Buf, perm: readonly number[]): Buf {
  const shape = perm.map((p) => x.shape[p]!);
  const inStrides = stridesOf(x.shape);
  const src = perm.map((p) => inStrides[p]!); // input stride of each output axis
  const out = like(x.data, x.data.length);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = x.data[off]!;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      off += src[d]!;
      if (idx[d]! < shape[d]!) break;
      off -= src[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return { data: out, shape };
}

export function concat(xs: readonly Buf[], axis: number): Buf {
  const first = xs[0]!;
  const dims = xs.map((x) => x.shape[axis]!);
  const total = dims.reduce((s, d) => s + d, 0);
  const shape = first.shape.map((d, i) => (i === axis ? total : d));
  const { outer, inner } = around(shape, axis);
  const out = like(first.data, numel(shape));
  for (let o = 0; o < outer; o++) {
    let at = o * total * inner;
    xs.forEach((x, k) => {
      const len = dims[k]! * inner;
      out.set(x.data.subarray(o * len, (o + 1) * len), at);
      at += len;
    });
  }
  return { data: out, shape };
}

export function slice(x: Buf, axis: number, start: number, end: number): Buf {
  const dim = x.shape[axis]!;
  if (end > dim) throw new BackendError(`slice: end ${end} exceeds axis ${axis} of [${x.shape.join(', ')}]`);
  const shape = x.shape.map((d, i) => (i === axis ? end - start : d));
  const { outer, inner } = around(x.shape, axis);
  const len = (end - start) * inner;
  const out = like(x.data, outer * len);
  for (let o = 0; o < outer; o++) {
    const from = (o * dim + start) * inner;
    out.set(x.data.subarray(from, from + len), o * len);
  }
  return { data: out, shape };
}

export function split(x: Buf, sizes: readonly number[], axis: number): Buf[] {
  let start = 0;
  return sizes.map((s) => {
    const part = slice(x, axis, start, start + s);
    start += s;
    return part;
  });
}

/** Rows of `table` [V, H] at `ids` (any shape) → [...ids, H]. */
export function gatherRows(table: Float32Array, rows: number, h: number, ids: Int32Array, op: string): Float32Array {
  const out = new Float32Array(ids.length * h);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t]!;
    if (id < 0 || id >= rows) throw new BackendError(`${op}: index ${id} at position ${t} is out of range [0, ${rows})`);
    out.set(table.subarray(id * h, (id + 1) * h), t * h);
  }
  return out;
}
