/**
 * Specs of the quantized GEMMs the `quantize` builder pass introduces (layouts: quant/types.ts).
 *   fp8_matmul(x [..., K], qweight fp8e4m3 [N, K], weight_scale f32 [1]|[N], input_scale? f32 [1])
 *     attrs { activationScale: 'static' | 'dynamic' } (static ⇔ the 4th input is present) → [..., N] f32
 *   wo_matmul(x [..., K], qweight, weight_scale f32 [N, G], zeros? uint8 [N, G], pre_scale? f32 [K])
 *     attrs { bits: 8 | 4, groupSize, inFeatures: K, hasZeros, hasPreScale } → [..., N] f32
 *     qweight: bits 8 → int8 [N, K]; bits 4 → uint8 [N, ceil(K/2)]
 */
import { ShapeError } from '../../errors/index.js';
import type { Attrs } from '../types.js';
import { boolAttr, expectDType, expectInputs, formatShape, input, isFloat, numAttr, strAttr, type OpSpec, type TensorSig } from './common.js';

function expectShape(op: string, what: string, t: TensorSig, shape: readonly (number | string)[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`${op}: ${what} must be ${formatShape(shape)}, got ${formatShape(t.shape)}`);
  }
}

const isF32 = (d: string): boolean => d === 'float32';

const fp8Matmul: OpSpec = {
  name: 'fp8_matmul',
  infer(inputs, attrs: Attrs) {
    const mode = strAttr('fp8_matmul', attrs, 'activationScale');
    if (mode !== 'static' && mode !== 'dynamic') throw new ShapeError(`fp8_matmul: activationScale must be static or dynamic, got '${mode}'`);
    expectInputs('fp8_matmul', inputs, mode === 'static' ? 4 : 3);
    const x = input(inputs, 0), w = input(inputs, 1), s = input(inputs, 2);
    expectDType('fp8_matmul', 'x', x, isFloat, 'a float tensor');
    expectDType('fp8_matmul', 'qweight', w, (d) => d === 'fp8e4m3', 'fp8e4m3');
    if (w.shape.length !== 2 || x.shape.length < 1 || x.shape.at(-1) !== w.shape[1]) {
      throw new ShapeError(`fp8_matmul: expected x [..., K] and qweight [N, K], got ${formatShape(x.shape)} and ${formatShape(w.shape)}`);
    }
    const n = w.shape[0]!;
    expectDType('fp8_matmul', 'weight_scale', s, isF32, 'float32');
    if (!(s.shape.length === 1 && (s.shape[0] === 1 || s.shape[0] === n))) {
      throw new ShapeError(`fp8_matmul: weight_scale must be [1] or [${n}], got ${formatShape(s.shape)}`);
    }
    if (mode === 'static') {
      expectDType('fp8_matmul', 'input_scale', input(inputs, 3), isF32, 'float32');
      expectShape('fp8_matmul', 'input_scale', input(inputs, 3), [1]);
    }
    return [{ shape: [...x.shape.slice(0, -1), n], dtype: 'float32' }];
  },
};

const woMatmul: OpSpec = {
  name: 'wo_matmul',
  infer(inputs, attrs: Attrs) {
    const op = 'wo_matmul';
    const bits = numAttr(op, attrs, 'bits');
    const groupSize = numAttr(op, attrs, 'groupSize');
    const k = numAttr(op, attrs, 'inFeatures');
    const hasZeros = boolAttr(attrs, 'hasZeros'), hasPre = boolAttr(attrs, 'hasPreScale');
    if (bits !== 8 && bits !== 4) throw new ShapeError(`${op}: bits must be 8 or 4, got ${bits}`);
    if (!Number.isInteger(groupSize) || groupSize <= 0) throw new ShapeError(`${op}: groupSize must be a positive integer, got ${groupSize}`);
    if (hasZeros && bits !== 4) throw new ShapeError(`${op}: zero points are supported for 4-bit weights only`);
    expectInputs(op, inputs, 3 + (hasZeros ? 1 : 0) + (hasPre ? 1 : 0));
    const x = input(inputs, 0), w = input(inputs, 1);
    expectDType(op, 'x', x, isFloat, 'a float tensor');
    if (x.shape.at(-1) !== k) throw new ShapeError(`${op}: x ${formatShape(x.shape)} must end in K = ${k}`);
    expectDType(op, 'qweight', w, (d) => d === (bits === 8 ? 'int8' : 'uint8'), bits === 8 ? 'int8' : 'uint8');
    const n = w.shape[0];
    if (typeof n !== 'number') throw new ShapeError(`${op}: qweight must have a static shape, got ${formatShape(w.shape)}`);
    expectShape(op, 'qweight', w, [n, bits === 8 ? k : Math.ceil(k / 2)]);
    const g = Math.ceil(k / groupSize);
    expectDType(op, 'weight_scale', input(inputs, 2), isF32, 'float32');
    expectShape(op, 'weight_scale', input(inputs, 2), [n, g]);
    let at = 3;
    if (hasZeros) {
      expectDType(op, 'zeros', input(inputs, at), (d) => d === 'uint8', 'uint8');
      expectShape(op, 'zeros', input(inputs, at++), [n, g]);
    }
    if (hasPre) {
      expectDType(op, 'pre_scale', input(inputs, at), isF32, 'float32');
      expectShape(op, 'pre_scale', input(inputs, at), [k]);
    }
    return [{ shape: [...x.shape.slice(0, -1), n], dtype: 'float32' }];
  },
};

export const quantSpecs: readonly OpSpec[] = [fp8Matmul, woMatmul];
