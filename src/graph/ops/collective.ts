/**
 * Specs of the tensor-parallel ops a sharded (`--tp_size N`) engine uses between ranks:
 * `all_reduce` (sum of every rank's tensor, same shape), `all_gather` (ranks' tensors
 * concatenated along the last axis, rank order) and `vocab_embedding` (embedding over one rank's
 * slice of the vocabulary: rows of ids outside the slice are zero, so an all_reduce completes it;
 * optional `vocabSize`, the whole vocabulary, makes ids outside it an error as in `embedding`).
 */
import { ShapeError } from '../../errors/index.js';
import type { Attrs } from '../types.js';
import { expectDType, expectInputs, expectRank, input, isFloat, isInt32, lastDim, numAttr, type OpSpec } from './common.js';

function tpSizeAttr(op: string, attrs: Attrs): number {
  const n = numAttr(op, attrs, 'tpSize');
  if (!Number.isInteger(n) || n < 1) throw new ShapeError(`${op}: 'tpSize' must be a positive integer, got ${n}`);
  return n;
}

const allReduce: OpSpec = {
  name: 'all_reduce',
  infer(inputs, attrs) {
    expectInputs('all_reduce', inputs, 1);
    const x = input(inputs, 0);
    expectDType('all_reduce', 'x', x, isFloat, 'a float tensor');
    tpSizeAttr('all_reduce', attrs);
    if ((attrs['reduce'] ?? 'sum') !== 'sum') throw new ShapeError(`all_reduce: only reduce 'sum' is supported, got ${JSON.stringify(attrs['reduce'])}`);
    return [{ shape: x.shape, dtype: x.dtype }];
  },
};

const allGather: OpSpec = {
  name: 'all_gather',
  infer(inputs, attrs) {
    expectInputs('all_gather', inputs, 1);
    const x = input(inputs, 0);
    expectDType('all_gather', 'x', x, isFloat, 'a float tensor');
    const n = tpSizeAttr('all_gather', attrs);
    const last = lastDim(x);
    if (typeof last !== 'number') throw new ShapeError(`all_gather: the gathered (last) dim must be fixed, got '${last}'`);
    return [{ shape: [...x.shape.slice(0, -1), last * n], dtype: x.dtype }];
  },
};

const vocabEmbedding: OpSpec = {
  name: 'vocab_embedding',
  infer(inputs, attrs) {
    expectInputs('vocab_embedding', inputs, 2);
    const ids = input(inputs, 0);
    const table = input(inputs, 1);
    expectDType('vocab_embedding', 'ids', ids, isInt32, 'int32');
    expectRank('vocab_embedding', 'table', table, 2);
    const start = numAttr('vocab_embedding', attrs, 'vocabStart');
    if (!Number.isInteger(start) || start < 0) throw new ShapeError(`vocab_embedding: 'vocabStart' must be a non-negative integer, got ${start}`);
    const vocab = attrs['vocabSize'];
    if (vocab !== undefined && (typeof vocab !== 'number' || !Number.isInteger(vocab) || vocab < start + Number(table.shape[0]))) {
      throw new ShapeError(`vocab_embedding: 'vocabSize' ${JSON.stringify(vocab)} must be an integer covering the slice [${start}, ${start}+${String(table.shape[0])})`);
    }
    return [{ shape: [...ids.shape, table.shape[1]!], dtype: table.dtype }];
  },
};

export const collectiveSpecs: readonly OpSpec[] = [allReduce, allGather, vocabEmbedding];
