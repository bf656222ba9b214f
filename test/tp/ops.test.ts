/** The collective op specs and their CPU kernels outside a group (tpSize 1) and inside one (two threads' worth, in turn). */
import { describe, expect, it } from 'vitest';
import { COLLECTIVE_KERNELS } from '../../src/backends/cpu/kernels/collective.js';
import { ShapeError } from '../../src/errors/index.js';
import { getOpSpec } from '../../src/graph/ops/index.js';
import type { NodeDef } from '../../src/graph/types.js';

const sig = (shape: (number | string)[], dtype: 'float32' | 'int32' = 'float32') => ({ shape, dtype });
const node = (op: string, attrs: NodeDef['attrs']): NodeDef => ({ id: 7, op, inputs: [0, 1], outputs: [2], attrs });

describe('collective op specs', () => {
  it('all_reduce keeps the shape; all_gather multiplies the last dim by tpSize; vocab_embedding is an embedding', () => {
    expect(getOpSpec('all_reduce').infer([sig(['num_tokens', 64])], { tpSize: 4, reduce: 'sum' })).toEqual([sig(['num_tokens', 64])]);
    expect(getOpSpec('all_gather').infer([sig(['num_logits', 64])], { tpSize: 4 })).toEqual([sig(['num_logits', 256])]);
    expect(getOpSpec('vocab_embedding').infer([sig(['num_tokens'], 'int32'), sig([64, 32])], { vocabStart: 64 })).toEqual([sig(['num_tokens', 32])]);
  });

  it('rejects what they cannot do, naming the op', () => {
    expect(() => getOpSpec('all_reduce').infer([sig([2, 3])], { tpSize: 0 })).toThrow(new ShapeError("all_reduce: 'tpSize' must be a positive integer, got 0"));
    expect(() => getOpSpec('all_reduce').infer([sig([2, 3])], { tpSize: 2, reduce: 'max' })).toThrow(/only reduce 'sum'/);
    expect(() => getOpSpec('all_gather').infer([sig([2, 'n'])], { tpSize: 2 })).toThrow(/gathered \(last\) dim must be fixed/);
    expect(() => getOpSpec('vocab_embedding').infer([sig([3]), sig([4, 2])], { vocabStart: 0 })).toThrow(/ids must be int32/);
  });
});

describe('collective CPU kernels', () => {
  it('tpSize 1: all_reduce and all_gather are copies', () => {
    const x = { data: Float32Array.from([1, 2, 3, 4]), shape: [2, 2] };
    const [r] = COLLECTIVE_KERNELS['all_reduce']!([x], node('all_reduce', { tpSize: 1 }), [[2, 2]]);
    expect(Array.from(r!.data)).toEqual([1, 2, 3, 4]);
    expect(r!.data).not.toBe(x.data);
    expect(Array.from(COLLECTIVE_KERNELS['all_gather']!([x], node('all_gather', { tpSize: 1 }), [[2, 2]])[0]!.data)).toEqual([1, 2, 3, 4]);
  });

  it('vocab_embedding gives this slice’s rows and zeros for other ranks’ ids', () => {
    const ids = { data: Int32Array.from([4, 1, 5, 9]), shape: [4] };
    const table = { data: Float32Array.from([10, 11, 20, 21]), shape: [2, 2] }; // vocabulary rows 4 and 5
    const [out] = COLLECTIVE_KERNELS['vocab_embedding']!([ids, table], node('vocab_embedding', { vocabStart: 4 }), [[4, 2]]);
    expect(Array.from(out!.data)).toEqual([10, 11, 0, 0, 20, 21, 0, 0]);
    const strict = node('vocab_embedding', { vocabStart: 4, vocabSize: 8 });
    expect(() => COLLECTIVE_KERNELS['vocab_embedding']!([ids, table], strict, [[4, 2]])).toThrow(/token id 9 at position 3 is outside the vocabulary \(8 tokens\)/);
  });
});
