import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../../../src/backends/cpu/index.js';
import { Network, Tensor, add, matmul, relu } from '../../../src/graph/index.js';
import { BackendError } from '../../../src/errors/index.js';
import { f32, MINIMAL_CONFIG, weightStore } from './helpers.js';

describe('the seed example', () => {
  it('y = relu(add(matmul(x, w), b)) builds and runs on the CPU backend', () => {
    const network = new Network(); // what builder.createNetwork() returns
    const x = new Tensor({ name: 'input', shape: ['batch', 3], dtype: 'float32' });
    const w = new Tensor({ name: 'weight', shape: [3, 2], dtype: 'float32' });
    const b = new Tensor({ name: 'bias', shape: [2], dtype: 'float32' });
    const y = relu(add(matmul(x, w), b));
    network.markOutput('y', y);
    expect(y.shape).toEqual(['batch', 2]);

    const engine = { config: MINIMAL_CONFIG, graph: network.toGraph(), weights: weightStore({}) };
    const ctx = createCpuBackend().createContext(engine);
    const out = ctx.run({
      tensors: {
        input: f32([2, 3], [1, 2, 3, 4, 5, 6]),
        weight: f32([3, 2], [1, -1, 0, 1, 2, -2]),
        bias: f32([2], [0.5, 1]),
      },
    });
    // row 0: [1+0+6, -1+2-6] + b = [7.5, -4] → relu [7.5, 0]; row 1: [4+0+12, -4+5-12] + b = [16.5, -10] → [16.5, 0]
    expect(out['y']!.shape).toEqual([2, 2]);
    expect(Array.from(out['y']!.data)).toEqual([7.5, 0, 16.5, 0]);
    ctx.dispose();
    expect(() => ctx.run({ tensors: {} })).toThrow(BackendError);
  });

  it('names a missing input and a symbol bound inconsistently', () => {
    const network = new Network();
    const a = network.addInput('a', ['n', 2], 'float32');
    const b = network.addInput('b', ['n', 2], 'float32');
    network.markOutput('s', add(a, b));
    const ctx = createCpuBackend().createContext({ config: MINIMAL_CONFIG, graph: network.toGraph(), weights: weightStore({}) });
    expect(() => ctx.run({ tensors: { a: f32([1, 2], [1, 2]) } })).toThrow(/missing graph input 'b'/);
    expect(() => ctx.run({ tensors: { a: f32([1, 2], [1, 2]), b: f32([2, 2], [1, 2, 3, 4]) } })).toThrow(/input 'b' dim 0 \(n\) is 2, expected 1/);
  });

  it('refuses a graph with an op it has no kernel for', () => {
    const network = new Network();
    const a = network.addInput('a', [2], 'float32');
    network.markOutput('r', relu(a));
    const graph = network.toGraph();
    const bad = { ...graph, nodes: graph.nodes.map((n) => ({ ...n, op: 'conv2d' })) };
    expect(() => createCpuBackend().createContext({ config: MINIMAL_CONFIG, graph: bad, weights: weightStore({}) }))
      .toThrow(new BackendError("the CPU backend has no kernel for op 'conv2d' (node 0); rebuild the engine for this Kiln version"));
  });
});
