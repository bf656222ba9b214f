/** Specs of rmsnorm, layernorm and the builder's add_rmsnorm (residual add + RMSNorm). */
import { ShapeError } from '../../errors/index.js';
import {
  expectDType, expectInputs, formatShape, input, isFloat, lastDim, numAttr, promote,
  type OpSpec, type TensorSig,
} from './common.js';

function checkParam(op: string, what: string, x: TensorSig, p: TensorSig): void {
  expectDType(op, what, p, isFloat, 'a float tensor');
  const h = lastDim(x);
  if (p.shape.length !== 1 || p.shape[0] !== h) {
    throw new ShapeError(`${op}: ${what} must be [${h}] to match x ${formatShape(x.shape)}, got ${formatShape(p.shape)}`);
  }
}

function checkEps(op: string, eps: number): void {
  if (!(eps > 0)) throw new ShapeError(`${op}: eps must be > 0, got ${eps}`);
}

const rmsnorm: OpSpec = {
  name: 'rmsnorm',
  infer(inputs, attrs) {
    expectInputs('rmsnorm', inputs, 2);
    const x = input(inputs, 0);
    expectDType('rmsnorm', 'x', x, isFloat, 'a float tensor');
    checkParam('rmsnorm', 'weight', x, input(inputs, 1));
    checkEps('rmsnorm', numAttr('rmsnorm', attrs, 'eps'));
    return [{ shape: x.shape, dtype: x.dtype }];
  },
};

const layernorm: OpSpec = {
  name: 'layernorm',
  infer(inputs, attrs) {
    expectInputs('layernorm', inputs, 2, 3);
    const x = input(inputs, 0);
    expectDType('layernorm', 'x', x, isFloat, 'a float tensor');
    checkParam('layernorm', 'weight', x, input(inputs, 1));
    if (inputs.length === 3) checkParam('layernorm', 'bias', x, input(inputs, 2));
    checkEps('layernorm', numAttr('layernorm', attrs, 'eps'));
    return [{ shape: x.shape, dtype: x.dtype }];
  },
};

/** Outputs [rmsnorm(x + residual), x + residual]. */
const addRmsnorm: OpSpec = {
  name: 'add_rmsnorm',
  infer(inputs, attrs) {
    expectInputs('add_rmsnorm', inputs, 3);
    const x = input(inputs, 0);
    const residual = input(inputs, 1);
    expectDType('add_rmsnorm', 'x', x, isFloat, 'a float tensor');
    if (x.shape.length !== residual.shape.length || x.shape.some((d, i) => d !== residual.shape[i])) {
      throw new ShapeError(`add_rmsnorm: x ${formatShape(x.shape)} and residual ${formatShape(residual.shape)} must have the same shape`);
    }
    const dtype = promote('add_rmsnorm', x, residual);
    checkParam('add_rmsnorm', 'weight', x, input(inputs, 2));
    checkEps('add_rmsnorm', numAttr('add_rmsnorm', attrs, 'eps'));
    return [{ shape: x.shape, dtype }, { shape: x.shape, dtype }];
  },
};

export const normSpecs: readonly OpSpec[] = [rmsnorm, layernorm, addRmsnorm];
