/** Specs of the LLM ops: embedding, gather_rows, rope, attention (paged KV cache). */
import { ShapeError } from '../../errors/index.js';
import type { RopeScaling } from '../../models/config.js';
import type { AttrValue, Attrs } from '../types.js';
import {
  expectDType, expectInputs, expectRank, formatShape, input, isFloat, isInt32, numAttr,
  type OpSpec, type TensorSig,
} from './common.js';

const embedding: OpSpec = {
  name: 'embedding',
  infer(inputs) {
    expectInputs('embedding', inputs, 2);
    const ids = input(inputs, 0);
    const table = input(inputs, 1);
    expectDType('embedding', 'ids', ids, isInt32, 'int32');
    expectRank('embedding', 'table', table, 2);
    return [{ shape: [...ids.shape, table.shape[1]!], dtype: table.dtype }];
  },
};

const gatherRows: OpSpec = {
  name: 'gather_rows',
  infer(inputs) {
    expectInputs('gather_rows', inputs, 2);
    const x = input(inputs, 0);
    const idx = input(inputs, 1);
    expectRank('gather_rows', 'x', x, 2);
    expectRank('gather_rows', 'idx', idx, 1);
    expectDType('gather_rows', 'idx', idx, isInt32, 'int32');
    return [{ shape: [idx.shape[0]!, x.shape[1]!], dtype: x.dtype }];
  },
};

function positiveInt(op: string, attrs: Attrs, key: string): number {
  const v = numAttr(op, attrs, key);
  if (!Number.isInteger(v) || v <= 0) throw new ShapeError(`${op}: '${key}' must be a positive integer, got ${v}`);
  return v;
}

function checkHeads(op: string, what: string, t: TensorSig, numHeads: number, headDim: number): void {
  expectRank(op, what, t, 2);
  expectDType(op, what, t, isFloat, 'a float tensor');
  if (t.shape[1] !== numHeads * headDim) {
    throw new ShapeError(`${op}: ${what} must be [T, ${numHeads}*${headDim}=${numHeads * headDim}], got ${formatShape(t.shape)}`);
  }
}

function sameTokens(op: string, a: TensorSig, b: TensorSig): void {
  if (a.shape[0] !== b.shape[0]) {
    throw new ShapeError(`${op}: token counts differ: ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
}

/** Reads and checks a RopeScaling attribute (as stored by `functional.rope`). */
export function ropeScalingAttr(op: string, v: AttrValue | undefined): RopeScaling {
  const o = (v ?? { type: 'default' }) as Record<string, AttrValue>;
  const num = (k: string): number => {
    const x = o[k];
    if (typeof x !== 'number' || !(x > 0)) throw new ShapeError(`${op}: rope scaling '${k}' must be a positive number, got ${JSON.stringify(x)}`);
    return x;
  };
  switch (o['type']) {
    case 'default': return { type: 'default' };
    case 'linear': return { type: 'linear', factor: num('factor') };
    case 'llama3': {
      const s = {
        type: 'llama3' as const, factor: num('factor'), lowFreqFactor: num('lowFreqFactor'),
        highFreqFactor: num('highFreqFactor'), originalMaxPositionEmbeddings: num('originalMaxPositionEmbeddings'),
      };
      if (s.highFreqFactor <= s.lowFreqFactor) throw new ShapeError(`${op}: llama3 highFreqFactor must exceed lowFreqFactor`);
      return s;
    }
    default: throw new ShapeError(`${op}: unknown rope scaling type ${JSON.stringify(o['type'])} (known: default, linear, llama3)`);
  }
}

const rope: OpSpec = {
  name: 'rope',
  infer(inputs, attrs) {
    expectInputs('rope', inputs, 2);
    const x = input(inputs, 0);
    const positions = input(inputs, 1);
    const numHeads = positiveInt('rope', attrs, 'numHeads');
    const headDim = positiveInt('rope', attrs, 'headDim');
    if (headDim % 2 !== 0) throw new ShapeError(`rope: headDim must be even, got ${headDim}`);
    if (!(numAttr('rope', attrs, 'theta') > 0)) throw new ShapeError('rope: theta must be > 0');
    ropeScalingAttr('rope', attrs['scaling']);
    checkHeads('rope', 'x', x, numHeads, headDim);
    expectRank('rope', 'positions', positions, 1);
    expectDType('rope', 'positions', positions, isInt32, 'int32');
    sameTokens('rope', x, positions);
    return [{ shape: x.shape, dtype: x.dtype }];
  },
};

const attention: OpSpec = {
  name: 'attention',
  infer(inputs, attrs) {
    expectInputs('attention', inputs, 3);
    const [q, k, v] = [input(inputs, 0), input(inputs, 1), input(inputs, 2)];
    const numHeads = positiveInt('attention', attrs, 'numHeads');
    const numKvHeads = positiveInt('attention', attrs, 'numKvHeads');
    const headDim = positiveInt('attention', attrs, 'headDim');
    const layer = numAttr('attention', attrs, 'layer');
    if (!Number.isInteger(layer) || layer < 0) throw new ShapeError(`attention: layer must be a non-negative integer, got ${layer}`);
    if (numHeads % numKvHeads !== 0) {
      throw new ShapeError(`attention: numHeads ${numHeads} must be a multiple of numKvHeads ${numKvHeads}`);
    }
    checkHeads('attention', 'q', q, numHeads, headDim);
    checkHeads('attention', 'k', k, numKvHeads, headDim);
    checkHeads('attention', 'v', v, numKvHeads, headDim);
    sameTokens('attention', q, k);
    sameTokens('attention', q, v);
    return [{ shape: q.shape, dtype: q.dtype }];
  },
};

export const llmSpecs: readonly OpSpec[] = [embedding, gatherRows, rope, attention];
