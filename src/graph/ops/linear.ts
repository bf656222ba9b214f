/** Specs of matmul and the builder's fused_matmul (matmul + optional bias + activation). */
import { ShapeError } from '../../errors/index.js';
import type { Attrs } from '../types.js';
import {
  boolAttr, expectDType, expectInputs, formatShape, input, isFloat, promote, strAttr,
  type OpSpec, type TensorSig,
} from './common.js';

export const ACTIVATIONS = ['none', 'relu', 'gelu', 'silu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

function inferMatmul(op: string, a: TensorSig, b: TensorSig, transposeB: boolean): TensorSig {
  expectDType(op, 'a', a, isFloat, 'a float tensor');
  expectDType(op, 'b', b, isFloat, 'a float tensor');
  if (a.shape.length < 1 || b.shape.length !== 2) {
    throw new ShapeError(`${op}: expected a [..., K] and b ${transposeB ? '[N, K]' : '[K, N]'}, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  const k = a.shape[a.shape.length - 1]!;
  const kb = transposeB ? b.shape[1]! : b.shape[0]!;
  const n = transposeB ? b.shape[0]! : b.shape[1]!;
  if (k !== kb) {
    const layout = transposeB ? ' (transposeB: b is [N, K])' : '';
    throw new ShapeError(`${op}: inner dims differ: a ${formatShape(a.shape)} has K=${k}, b ${formatShape(b.shape)} has K=${kb}${layout}`);
  }
  return { shape: [...a.shape.slice(0, -1), n], dtype: promote(op, a, b) };
}

const matmul: OpSpec = {
  name: 'matmul',
  infer(inputs, attrs) {
    expectInputs('matmul', inputs, 2);
    return [inferMatmul('matmul', input(inputs, 0), input(inputs, 1), boolAttr(attrs, 'transposeB'))];
  },
};

export function activationAttr(op: string, attrs: Attrs): Activation {
  const act = strAttr(op, attrs, 'activation', 'none');
  if (!(ACTIVATIONS as readonly string[]).includes(act)) {
    throw new ShapeError(`${op}: unknown activation '${act}' (known: ${ACTIVATIONS.join(', ')})`);
  }
  return act as Activation;
}

const fusedMatmul: OpSpec = {
  name: 'fused_matmul',
  infer(inputs, attrs) {
    const hasBias = boolAttr(attrs, 'hasBias');
    expectInputs('fused_matmul', inputs, hasBias ? 3 : 2);
    activationAttr('fused_matmul', attrs);
    const out = inferMatmul('fused_matmul', input(inputs, 0), input(inputs, 1), boolAttr(attrs, 'transposeB'));
    if (hasBias) {
      const bias = input(inputs, 2);
      const n = out.shape[out.shape.length - 1];
      if (bias.shape.length !== 1 || bias.shape[0] !== n) {
        throw new ShapeError(`fused_matmul: bias must be [${n}] to match output ${formatShape(out.shape)}, got ${formatShape(bias.shape)}`);
      }
    }
    return [out];
  },
};

export const linearSpecs: readonly OpSpec[] = [matmul, fusedMatmul];
