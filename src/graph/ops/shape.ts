/** Specs of the layout ops: reshape, transpose, concat, slice, split. */
import { ShapeError } from '../../errors/index.js';
import type { Dim, Shape } from '../types.js';
import {
  decodeDims, expectInputs, formatShape, input, normAxis, numAttr, numListAttr, type OpSpec, type TensorSig,
} from './common.js';

function factor(shape: Shape): { product: number; symbols: string[] } {
  let product = 1;
  const symbols: string[] = [];
  for (const d of shape) {
    if (typeof d === 'number') product *= d;
    else symbols.push(d);
  }
  return { product, symbols };
}

/**
 * Resolves a reshape target (one -1 allowed). With symbolic dims, the symbols of the target
 * must be among the input's; a -1 may stand for one leftover symbol or a numeric quotient.
 */
export function resolveReshape(from: Shape, to: readonly Dim[]): Dim[] {
  const fail = (why: string): never => {
    throw new ShapeError(`reshape: cannot reshape ${formatShape(from)} to ${formatShape(to)}: ${why}`);
  };
  const holes = to.filter((d) => d === -1).length;
  if (holes > 1) fail('at most one -1 is allowed');
  if (to.some((d) => typeof d === 'number' && d !== -1 && (!Number.isInteger(d) || d < 0))) fail('dims must be non-negative integers');
  const src = factor(from);
  const dst = factor(to.filter((d) => d !== -1));
  const leftover = [...src.symbols];
  for (const s of dst.symbols) {
    const i = leftover.indexOf(s);
    if (i < 0) fail(`symbol '${s}' does not appear in the input shape`);
    leftover.splice(i, 1);
  }
  if (holes === 0) {
    if (leftover.length > 0 || src.product !== dst.product) fail('element counts differ');
    return [...to];
  }
  let fill: Dim;
  if (leftover.length === 0) {
    if (dst.product === 0 || src.product % dst.product !== 0) fail('element count is not divisible');
    fill = src.product / dst.product;
  } else if (leftover.length === 1 && src.product === dst.product) {
    fill = leftover[0]!;
  } else {
    fill = fail('-1 cannot be inferred over symbolic dims');
  }
  return to.map((d) => (d === -1 ? fill : d));
}

const reshape: OpSpec = {
  name: 'reshape',
  infer(inputs, attrs) {
    expectInputs('reshape', inputs, 1);
    const x = input(inputs, 0);
    return [{ shape: resolveReshape(x.shape, decodeDims('reshape', attrs['shape'])), dtype: x.dtype }];
  },
};

const transpose: OpSpec = {
  name: 'transpose',
  infer(inputs, attrs) {
    expectInputs('transpose', inputs, 1);
    const x = input(inputs, 0);
    const perm = numListAttr('transpose', attrs, 'perm');
    const sorted = [...perm].sort((a, b) => a - b);
    if (perm.length !== x.shape.length || sorted.some((p, i) => p !== i)) {
      throw new ShapeError(`transpose: perm [${perm.join(', ')}] is not a permutation of the axes of ${formatShape(x.shape)}`);
    }
    return [{ shape: perm.map((p) => x.shape[p]!), dtype: x.dtype }];
  },
};

function checkSameExceptAxis(op: string, a: TensorSig, b: TensorSig, axis: number): void {
  const same = a.shape.length === b.shape.length && a.shape.every((d, i) => i === axis || d === b.shape[i]);
  if (!same) throw new ShapeError(`${op}: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} differ outside axis ${axis}`);
  if (a.dtype !== b.dtype) throw new ShapeError(`${op}: dtypes differ: ${a.dtype} ${formatShape(a.shape)} and ${b.dtype} ${formatShape(b.shape)}`);
}

const concat: OpSpec = {
  name: 'concat',
  infer(inputs, attrs) {
    if (inputs.length < 1) throw new ShapeError('concat: expected at least one input');
    const first = input(inputs, 0);
    const axis = normAxis('concat', numAttr('concat', attrs, 'axis'), first.shape.length);
    for (const t of inputs) checkSameExceptAxis('concat', first, t, axis);
    let total = 0;
    for (const t of inputs) {
      const d = t.shape[axis]!;
      if (typeof d !== 'number') {
        if (inputs.length === 1) return [{ shape: first.shape, dtype: first.dtype }];
        throw new ShapeError(`concat: the concatenated axis must be static, got ${formatShape(t.shape)} at axis ${axis}`);
      }
      total += d;
    }
    const shape = first.shape.map((d, i) => (i === axis ? total : d));
    return [{ shape, dtype: first.dtype }];
  },
};

const slice: OpSpec = {
  name: 'slice',
  infer(inputs, attrs) {
    expectInputs('slice', inputs, 1);
    const x = input(inputs, 0);
    const axis = normAxis('slice', numAttr('slice', attrs, 'axis'), x.shape.length);
    const start = numAttr('slice', attrs, 'start');
    const end = numAttr('slice', attrs, 'end');
    const dim = x.shape[axis]!;
    const limit = typeof dim === 'number' ? dim : Infinity;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > limit) {
      throw new ShapeError(`slice: range [${start}, ${end}) is not within axis ${axis} of ${formatShape(x.shape)}`);
    }
    return [{ shape: x.shape.map((d, i) => (i === axis ? end - start : d)), dtype: x.dtype }];
  },
};

const split: OpSpec = {
  name: 'split',
  infer(inputs, attrs) {
    expectInputs('split', inputs, 1);
    const x = input(inputs, 0);
    const axis = normAxis('split', numAttr('split', attrs, 'axis'), x.shape.length);
    const sizes = numListAttr('split', attrs, 'sizes');
    const total = sizes.reduce((s, v) => s + v, 0);
    if (sizes.length === 0 || sizes.some((s) => !Number.isInteger(s) || s < 0) || total !== x.shape[axis]) {
      throw new ShapeError(`split: sizes [${sizes.join(', ')}] do not add up to axis ${axis} of ${formatShape(x.shape)}`);
    }
    return sizes.map((s) => ({ shape: x.shape.map((d, i) => (i === axis ? s : d)), dtype: x.dtype }));
  },
};

export const shapeSpecs: readonly OpSpec[] = [reshape, transpose, concat, slice, split];
