/** Specs of the element-wise ops: binary arithmetic, activations, softmax, cast, silu_mul. */
import { ShapeError } from '../../errors/index.js';
import type { DType } from '../types.js';
import {
  broadcastShapes, expectDType, expectInputs, formatShape, input, isFloat, lastDim, normAxis, numAttr,
  promote, strAttr, type OpSpec,
} from './common.js';

function binary(name: string): OpSpec {
  return {
    name,
    infer(inputs) {
      expectInputs(name, inputs, 2);
      const a = input(inputs, 0);
      const b = input(inputs, 1);
      const dtype = promote(name, a, b);
      return [{ shape: broadcastShapes(name, a.shape, b.shape), dtype }];
    },
  };
}

function unaryFloat(name: string): OpSpec {
  return {
    name,
    infer(inputs) {
      expectInputs(name, inputs, 1);
      const x = input(inputs, 0);
      expectDType(name, 'x', x, isFloat, 'a float tensor');
      return [{ shape: x.shape, dtype: x.dtype }];
    },
  };
}

const softmax: OpSpec = {
  name: 'softmax',
  infer(inputs, attrs) {
    expectInputs('softmax', inputs, 1);
    const x = input(inputs, 0);
    expectDType('softmax', 'x', x, isFloat, 'a float tensor');
    normAxis('softmax', numAttr('softmax', attrs, 'axis', -1), x.shape.length);
    return [{ shape: x.shape, dtype: x.dtype }];
  },
};

const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16', 'fp8e4m3', 'int32', 'int8', 'uint8'];

const cast: OpSpec = {
  name: 'cast',
  infer(inputs, attrs) {
    expectInputs('cast', inputs, 1);
    const x = input(inputs, 0);
    const dtype = strAttr('cast', attrs, 'dtype');
    if (!DTYPES.includes(dtype as DType)) throw new ShapeError(`cast: unknown dtype '${dtype}' (known: ${DTYPES.join(', ')})`);
    return [{ shape: x.shape, dtype: dtype as DType }];
  },
};

/** SiLU(gate) · up over a merged [.., 2·I] input whose first half is the gate. */
const siluMul: OpSpec = {
  name: 'silu_mul',
  infer(inputs) {
    expectInputs('silu_mul', inputs, 1);
    const x = input(inputs, 0);
    expectDType('silu_mul', 'x', x, isFloat, 'a float tensor');
    const last = lastDim(x);
    if (typeof last !== 'number' || last % 2 !== 0) {
      throw new ShapeError(`silu_mul: last dim must be an even number (gate and up halves), got shape ${formatShape(x.shape)}`);
    }
    return [{ shape: [...x.shape.slice(0, -1), last / 2], dtype: x.dtype }];
  },
};

export const elementwiseSpecs: readonly OpSpec[] = [
  binary('add'), binary('sub'), binary('mul'), binary('div'),
  unaryFloat('relu'), unaryFloat('gelu'), unaryFloat('silu'),
  softmax, cast, siluMul,
];
