import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors/index.js';
import {
  Network, Tensor, add, addRmsnorm, attention, concat, embedding, fusedMatmul, gatherRows, matmul, netGuard,
  relu, reshape, rope, silu, siluMul, slice, split, transpose, validateGraph, type GraphDef,
} from '../../src/graph/index.js';

describe('Network and Tensor', () => {
  it('records inputs, weights, nodes and outputs as a plain GraphDef', () => {
    const net = new Network();
    const x = net.addInput('x', ['num_tokens', 4], 'float32');
    const w = net.addWeight('w', [3, 4], 'bfloat16');
    const y = relu(matmul(x, w, { transposeB: true }));
    net.markOutput('y', y);
    const g = net.toGraph();
    expect(g.inputs).toEqual([0]);
    expect(g.tensors.map((t) => [t.id, t.kind, t.name, t.shape, t.dtype])).toEqual([
      [0, 'input', 'x', ['num_tokens', 4], 'float32'],
      [1, 'weight', 'w', [3, 4], 'bfloat16'],
      [2, 'intermediate', undefined, ['num_tokens', 3], 'float32'],
      [3, 'intermediate', undefined, ['num_tokens', 3], 'float32'],
    ]);
    expect(g.nodes).toEqual([
      { id: 0, op: 'matmul', inputs: [0, 1], outputs: [2], attrs: { transposeB: true } },
      { id: 1, op: 'relu', inputs: [2], outputs: [3], attrs: {} },
    ]);
    expect(g.outputs).toEqual([{ name: 'y', tensor: 3 }]);
    expect(JSON.parse(JSON.stringify(g))).toEqual(g);
    validateGraph(g);
  });

  it('toGraph is a snapshot', () => {
    const net = new Network();
    const x = net.addInput('x', [2], 'float32');
    const g = net.toGraph();
    relu(x);
    expect(g.nodes).toHaveLength(0);
    expect(net.toGraph().nodes).toHaveLength(1);
  });

  it('seed-style Tensor goes to the last created network, or the netGuard one', () => {
    const a = new Network();
    const b = new Network();
    const t1 = new Tensor({ name: 'x', shape: [2], dtype: 'float32' });
    expect(t1.network).toBe(b);
    const t2 = netGuard(a, () => new Tensor({ name: 'x', shape: [3], dtype: 'float32' }));
    expect(t2.network).toBe(a);
    expect(a.toGraph().tensors[0]!.shape).toEqual([3]);
    expect(new Tensor({ name: 'y', shape: [1], dtype: 'int32' }).network).toBe(b);
    expect(() => add(t1, t2)).toThrow(/belongs to another network/);
  });

  it('rejects duplicate names, symbolic weights and double outputs', () => {
    const net = new Network();
    const x = net.addInput('x', [2], 'float32');
    expect(() => net.addWeight('x', [2], 'float32')).toThrow(/'x' is already used/);
    expect(() => net.addWeight('w', ['n' as unknown as number], 'float32')).toThrow(ShapeError);
    net.markOutput('o', x);
    expect(() => net.markOutput('o', x)).toThrow(/already marked/);
  });

  it('split returns one tensor per size; addRmsnorm two', () => {
    const net = new Network();
    const x = net.addInput('x', ['t', 10], 'float32');
    const parts = split(x, [2, 3, 5], 1);
    expect(parts.map((p) => p.shape)).toEqual([['t', 2], ['t', 3], ['t', 5]]);
    const w = net.addWeight('w', [10], 'float32');
    const [normed, sum] = addRmsnorm(x, x, w, 1e-5);
    expect(normed.id).not.toBe(sum.id);
    expect(sum.shape).toEqual(['t', 10]);
  });

  it('builds a Llama-style block with symbolic token counts', () => {
    const net = new Network();
    const ids = net.addInput('input_ids', ['num_tokens'], 'int32');
    const pos = net.addInput('positions', ['num_tokens'], 'int32');
    const emb = embedding(ids, net.addWeight('embed', [100, 16], 'float32'));
    const qkv = fusedMatmul(emb, net.addWeight('qkv', [32, 16], 'float32'), net.addWeight('qkv_b', [32], 'float32'), { transposeB: true });
    const [q, k, v] = split(qkv, [16, 8, 8], 1);
    const scaling = { type: 'default' } as const;
    const qr = rope(q!, pos, { numHeads: 4, headDim: 4, theta: 10000, scaling });
    const kr = rope(k!, pos, { numHeads: 2, headDim: 4, theta: 10000, scaling });
    const att = attention(qr, kr, v!, { numHeads: 4, numKvHeads: 2, headDim: 4, layer: 0 });
    const mlp = siluMul(matmul(att, net.addWeight('gate_up', [16, 8], 'float32')));
    const h = silu(add(mlp, slice(att, 1, 0, 4)));
    const r = reshape(h, ['num_tokens', 2, 2]);
    const t = transpose(r, [1, 0, 2]);
    const c = concat([t, t], 0);
    expect(c.shape).toEqual([4, 'num_tokens', 2]);
    const last = gatherRows(h, net.addInput('logits_indices', ['num_logits'], 'int32'));
    expect(last.shape).toEqual(['num_logits', 4]);
    net.markOutput('logits', last);
    validateGraph(net.toGraph());
  });
});

describe('validateGraph', () => {
  function base(): GraphDef {
    const net = new Network();
    const x = net.addInput('x', ['n', 4], 'float32');
    const w = net.addWeight('w', [4, 2], 'float32');
    net.markOutput('y', relu(matmul(x, w)));
    return net.toGraph();
  }

  it('accepts a built graph', () => {
    expect(() => validateGraph(base())).not.toThrow();
  });

  it('catches a wrong recorded shape', () => {
    const g = base();
    const tensors = g.tensors.map((t) => (t.id === 3 ? { ...t, shape: ['n', 3] } : t));
    expect(() => validateGraph({ ...g, tensors })).toThrow(/node 1 \(relu\) output 3 is float32 \[n, 3\] but re-inference gives float32 \[n, 2\]/);
  });

  it('catches nodes out of topological order', () => {
    const g = base();
    const nodes = [{ ...g.nodes[1]!, id: 0 }, { ...g.nodes[0]!, id: 1 }];
    expect(() => validateGraph({ ...g, nodes })).toThrow(/reads tensor 2 before it is produced/);
  });

  it('catches bad ids, unknown ops and dangling outputs', () => {
    const g = base();
    expect(() => validateGraph({ ...g, tensors: g.tensors.map((t) => (t.id === 1 ? { ...t, id: 7 } : t)) })).toThrow(/tensor at index 1 has id 7/);
    expect(() => validateGraph({ ...g, nodes: [{ ...g.nodes[0]!, op: 'frobnicate' }, g.nodes[1]!] })).toThrow(/unknown op 'frobnicate'/);
    expect(() => validateGraph({ ...g, outputs: [{ name: 'y', tensor: 9 }] })).toThrow(/output 'y' refers to tensor 9/);
    expect(() => validateGraph({ ...g, inputs: [] })).toThrow(/graph.inputs/);
  });
});

describe('Network.scope', () => {
  it('names nodes by nested scope and prefixes shape errors with it', () => {
    const net = new Network();
    const x = net.addInput('x', [2, 4], 'float32');
    const w = net.addWeight('w', [3, 4], 'float32');
    net.scope('layers.0', () => net.scope('mlp', () => relu(x)));
    relu(x);
    expect(net.toGraph().nodes.map((n) => n.name)).toEqual(['layers.0.mlp', undefined]);
    expect(() => net.scope('layers.1', () => matmul(x, w))).toThrow(new ShapeError('layers.1: matmul: inner dims differ: a [2, 4] has K=4, b [3, 4] has K=3'));
  });
});
