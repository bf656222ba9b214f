import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors/index.js';
import {
  Network, add, attention, cast, concat, embedding, fusedMatmul, gatherRows, getOpSpec, layernorm, listOps, matmul,
  mul, reshape, resolveReshape, rmsnorm, rope, slice, softmax, split, transpose, type Dim, type DType,
} from '../../src/graph/index.js';

function inputs(...specs: [Dim[], DType?][]) {
  const net = new Network();
  return specs.map(([shape, dtype], i) => net.addInput(`t${i}`, shape, dtype ?? 'float32'));
}

describe('broadcasting', () => {
  it('follows numpy, with symbols matching only themselves or 1', () => {
    const [a, b, c, d] = inputs([['n', 1, 4]], [[3, 1]], [['n', 3, 4]], [[1]]);
    expect(add(a!, b!).shape).toEqual(['n', 3, 4]);
    expect(mul(c!, d!).shape).toEqual(['n', 3, 4]);
    expect(add(a!, c!).shape).toEqual(['n', 3, 4]);
  });

  it('errors name the op and both shapes', () => {
    const [a, b, c] = inputs([['n', 4]], [['m', 4]], [[3]]);
    expect(() => add(a!, b!)).toThrow(new ShapeError('add: cannot broadcast shapes [n, 4] and [m, 4] (dim n vs m)'));
    expect(() => mul(a!, c!)).toThrow(new ShapeError('mul: cannot broadcast shapes [n, 4] and [3] (dim 4 vs 3)'));
  });

  it('promotes mixed floats to float32 and refuses int + float', () => {
    const [a, b, i] = inputs([[2], 'bfloat16'], [[2], 'float16'], [[2], 'int32']);
    expect(add(a!, b!).dtype).toBe('float32');
    expect(add(a!, a!).dtype).toBe('bfloat16');
    expect(add(i!, i!).dtype).toBe('int32');
    expect(() => add(a!, i!)).toThrow(/add: dtypes bfloat16 \[2\] and int32 \[2\] do not mix/);
  });
});

describe('matmul', () => {
  it('infers [..., N] in both layouts', () => {
    const [x, w, wt] = inputs([['t', 2, 8]], [[8, 5]], [[5, 8]]);
    expect(matmul(x!, w!).shape).toEqual(['t', 2, 5]);
    expect(matmul(x!, wt!, { transposeB: true }).shape).toEqual(['t', 2, 5]);
  });

  it('names both shapes when K differs', () => {
    const [x, w] = inputs([['t', 8]], [[7, 5]]);
    expect(() => matmul(x!, w!)).toThrow(new ShapeError('matmul: inner dims differ: a [t, 8] has K=8, b [7, 5] has K=7'));
    expect(() => matmul(x!, w!, { transposeB: true })).toThrow(/matmul: inner dims differ: a \[t, 8\] has K=8, b \[7, 5\] has K=5 \(transposeB/);
  });

  it('fused_matmul checks bias and activation', () => {
    const [x, w, b, bad] = inputs([['t', 8]], [[5, 8]], [[5]], [[4]]);
    expect(fusedMatmul(x!, w!, b!, { transposeB: true, activation: 'gelu' }).shape).toEqual(['t', 5]);
    expect(() => fusedMatmul(x!, w!, bad!, { transposeB: true })).toThrow(/fused_matmul: bias must be \[5\] to match output \[t, 5\], got \[4\]/);
    const spec = getOpSpec('fused_matmul');
    expect(() => spec.infer([x!, w!], { transposeB: true, hasBias: false, activation: 'tanh' })).toThrow(/unknown activation 'tanh'/);
  });
});

describe('shape ops', () => {
  it('reshape resolves -1 over static and symbolic dims', () => {
    expect(resolveReshape([4, 6], [-1, 3])).toEqual([8, 3]);
    expect(resolveReshape(['t', 32], ['t', 4, -1])).toEqual(['t', 4, 8]);
    expect(resolveReshape(['t', 4, 8], [-1, 32])).toEqual(['t', 32]);
    expect(() => resolveReshape(['t', 4], [-1, 3])).toThrow(/cannot reshape \[t, 4\] to \[-1, 3\]/);
    expect(() => resolveReshape([4, 6], [5, -1])).toThrow(/not divisible/);
    expect(() => resolveReshape([4, 6], [-1, -1])).toThrow(/at most one -1/);
    expect(() => resolveReshape(['t', 2], ['u', 2])).toThrow(/symbol 'u' does not appear/);
    const [x] = inputs([['t', 6]]);
    expect(reshape(x!, ['t', 2, 3]).shape).toEqual(['t', 2, 3]);
    expect(reshape(x!, [-1, 2, 3]).shape).toEqual(['t', 2, 3]);
  });

  it('transpose, concat, slice, split', () => {
    const [x, y, z] = inputs([['t', 2, 3]], [['t', 4, 3]], [['t', 4, 2]]);
    expect(transpose(x!, [2, 0, 1]).shape).toEqual([3, 't', 2]);
    expect(() => transpose(x!, [0, 0, 1])).toThrow(/transpose: perm \[0, 0, 1\] is not a permutation of the axes of \[t, 2, 3\]/);
    expect(concat([x!, y!], 1).shape).toEqual(['t', 6, 3]);
    expect(() => concat([x!, z!], 1)).toThrow(/concat: shapes \[t, 2, 3\] and \[t, 4, 2\] differ outside axis 1/);
    expect(() => concat([x!, y!], 0)).toThrow(/concat: shapes \[t, 2, 3\] and \[t, 4, 3\] differ outside axis 0/);
    expect(slice(y!, -2, 1, 3).shape).toEqual(['t', 2, 3]);
    expect(() => slice(y!, 1, 2, 5)).toThrow(/slice: range \[2, 5\) is not within axis 1 of \[t, 4, 3\]/);
    expect(() => split(y!, [1, 2], 1)).toThrow(/split: sizes \[1, 2\] do not add up to axis 1 of \[t, 4, 3\]/);
    expect(() => softmax(x!, 3)).toThrow(/softmax: axis 3 is out of range for rank 3/);
  });

  it('cast changes the dtype only', () => {
    const [x] = inputs([['t', 2]]);
    expect(cast(x!, 'bfloat16').dtype).toBe('bfloat16');
    expect(() => cast(x!, 'float64' as DType)).toThrow(/cast: unknown dtype 'float64'/);
  });
});

describe('norms, gathers, rope and attention', () => {
  it('check parameter shapes against x', () => {
    const [x, w, bad] = inputs([['t', 8]], [[8]], [[7]]);
    expect(rmsnorm(x!, w!, 1e-6).shape).toEqual(['t', 8]);
    expect(() => rmsnorm(x!, bad!, 1e-6)).toThrow(new ShapeError('rmsnorm: weight must be [8] to match x [t, 8], got [7]'));
    expect(() => layernorm(x!, w!, bad!, 1e-5)).toThrow(/layernorm: bias must be \[8\] to match x \[t, 8\], got \[7\]/);
    expect(() => rmsnorm(x!, w!, 0)).toThrow(/eps must be > 0/);
  });

  it('embedding and gather_rows need int32 indices', () => {
    const [ids, table, fids] = inputs([['t'], 'int32'], [[10, 4]], [['t']]);
    expect(embedding(ids!, table!).shape).toEqual(['t', 4]);
    expect(() => embedding(fids!, table!)).toThrow(/embedding: ids must be int32, got float32 \(shape \[t\]\)/);
    expect(gatherRows(table!, ids!).shape).toEqual(['t', 4]);
  });

  it('rope and attention check head layouts and token counts', () => {
    const [q, k, pos, pos2] = inputs([['t', 16]], [['t', 8]], [['t'], 'int32'], [['u'], 'int32']);
    const opts = { numHeads: 4, headDim: 4, theta: 1e4, scaling: { type: 'default' } as const };
    expect(rope(q!, pos!, opts).shape).toEqual(['t', 16]);
    expect(() => rope(q!, pos2!, opts)).toThrow(/rope: token counts differ: \[t, 16\] and \[u\]/);
    expect(() => rope(k!, pos!, opts)).toThrow(/rope: x must be \[T, 4\*4=16\], got \[t, 8\]/);
    expect(() => rope(q!, pos!, { ...opts, scaling: { type: 'yarn' } as never })).toThrow(/unknown rope scaling type "yarn"/);
    expect(attention(q!, k!, k!, { numHeads: 4, numKvHeads: 2, headDim: 4, layer: 0 }).shape).toEqual(['t', 16]);
    expect(() => attention(q!, k!, k!, { numHeads: 4, numKvHeads: 3, headDim: 4, layer: 0 })).toThrow(/multiple of numKvHeads/);
    expect(() => attention(q!, q!, k!, { numHeads: 4, numKvHeads: 2, headDim: 4, layer: 0 })).toThrow(/attention: k must be \[T, 2\*4=8\], got \[t, 16\]/);
  });

  it('the registry knows every primitive and fused op', () => {
    const ops = ['matmul', 'add', 'sub', 'mul', 'div', 'relu', 'gelu', 'silu', 'softmax', 'rmsnorm', 'layernorm', 'embedding',
      'reshape', 'transpose', 'concat', 'slice', 'split', 'cast', 'rope', 'attention', 'gather_rows',
      'fused_matmul', 'add_rmsnorm', 'silu_mul',
      // quantized GEMMs (builder's quantize pass) and tensor-parallel collectives (src/tp)
      'fp8_matmul', 'wo_matmul', 'all_reduce', 'all_gather', 'vocab_embedding'];
    expect([...listOps()].sort()).toEqual([...ops].sort());
    expect(() => getOpSpec('conv2d')).toThrow(/unknown op 'conv2d' \(known: /);
  });
});
