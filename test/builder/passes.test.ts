import { describe, expect, it } from 'vitest';
import { DEFAULT_PASSES, dce, fuseAddRmsnorm, fuseMatmulEpilogue, mergeGateUp, mergeQkv, type NamedPass } from '../../src/builder/passes/index.js';
import { Network } from '../../src/graph/network.js';
import * as F from '../../src/graph/functional.js';
import { validateGraph } from '../../src/graph/validate.js';
import type { DType } from '../../src/graph/types.js';
import { build, expectSameOutputs, input, ops, run, weightsFor } from './helpers.js';

const P = (name: string, run: NamedPass['run']): NamedPass => ({ name, run });
const T = 5;

function qkvNet(bias: boolean, dtype: DType = 'float32'): Network {
  const n = new Network();
  const x = n.addInput('x', ['num_tokens', 8], 'float32');
  const proj = (p: string, rows: number) => {
    const y = F.matmul(x, n.addWeight(`model.layers.0.self_attn.${p}.weight`, [rows, 8], dtype), { transposeB: true });
    return bias ? F.add(y, n.addWeight(`model.layers.0.self_attn.${p}.bias`, [rows], dtype)) : y;
  };
  const q = proj('q_proj', 8);
  const k = proj('k_proj', 4);
  const v = proj('v_proj', 4);
  n.markOutput('q', F.relu(q));
  n.markOutput('k', k);
  n.markOutput('v', F.mul(v, v));
  return n;
}

describe('merge-qkv', () => {
  it('merges q/k/v into one matmul + split on [q; k; v]', () => {
    const net = qkvNet(false);
    const weights = weightsFor(net.toGraph());
    const base = build(net, weights, []);
    const merged = build(net, weights, [P('merge-qkv', mergeQkv), P('dce', dce)]);
    expect(ops(base)).toEqual(['matmul', 'matmul', 'matmul', 'relu', 'mul']);
    expect(ops(merged)).toEqual(['matmul', 'split', 'relu', 'mul']);
    expect(merged.graph.nodes[1]!.attrs).toEqual({ axis: -1, sizes: [8, 4, 4] });
    expect(merged.weights.names()).toEqual(['model.layers.0.self_attn.qkv_proj.weight']);
    const w = merged.weights.get('model.layers.0.self_attn.qkv_proj.weight');
    expect(w.shape).toEqual([16, 8]);
    const q = weights.get('model.layers.0.self_attn.q_proj.weight').data;
    const v = weights.get('model.layers.0.self_attn.v_proj.weight').data;
    expect(Array.from(w.data.subarray(0, 64))).toEqual(Array.from(q));
    expect(Array.from(w.data.subarray(96))).toEqual(Array.from(v));
    expect(merged.config.passLog[0]).toBe('merge-qkv: merged 1 q/k/v group (3 matmuls → 1 matmuls + 1 split; 0 with merged bias)');
    expectSameOutputs(run(base, { x: input([T, 8]) }), run(merged, { x: input([T, 8]) }));
  });

  it('merges biases too (Qwen2), keeping bf16 weights bf16, and fuses the bias into fused_matmul', () => {
    const net = qkvNet(true, 'bfloat16');
    const weights = weightsFor(net.toGraph());
    const base = build(net, weights, []);
    const merged = build(net, weights, [P('merge-qkv', mergeQkv)]);
    expect(ops(merged)).toEqual(['matmul', 'add', 'split', 'relu', 'mul']);
    const b = merged.weights.get('model.layers.0.self_attn.qkv_proj.bias');
    expect(b.dtype).toBe('bfloat16');
    expect(b.data).toBeInstanceOf(Uint16Array);
    expect(b.shape).toEqual([16]);
    const full = build(net, weights);
    expect(ops(full)).toEqual(['fused_matmul', 'split', 'relu', 'mul']);
    expect(full.graph.nodes[0]!.attrs).toEqual({ transposeB: true, hasBias: true, activation: 'none' });
    expect([...full.weights.names()].sort()).toEqual(['model.layers.0.self_attn.qkv_proj.bias', 'model.layers.0.self_attn.qkv_proj.weight']);
    expect(full.config.passLog).toContain('merge-qkv: merged 1 q/k/v group (3 matmuls → 1 matmuls + 1 split; 1 with merged bias)');
    const x = { x: input([T, 8]) };
    expectSameOutputs(run(base, x), run(merged, x));
    expectSameOutputs(run(base, x), run(full, x));
  });

  it('leaves projections alone when they read different inputs', () => {
    const n = new Network();
    const x = n.addInput('x', [2, 4], 'float32');
    const y = n.addInput('y', [2, 4], 'float32');
    const lin = (t: typeof x, p: string) => F.matmul(t, n.addWeight(`${p}.weight`, [4, 4], 'float32'), { transposeB: true });
    n.markOutput('o', F.add(F.add(lin(x, 'q_proj'), lin(y, 'k_proj')), lin(x, 'v_proj')));
    const g = n.toGraph();
    const r = mergeQkv(g, weightsFor(g));
    expect(ops(r.graph)).toEqual(ops(g));
    expect(r.log).toEqual(['merge-qkv: no q/k/v projection groups found']);
  });
});

function mlpNet(): Network {
  const n = new Network();
  const x = n.addInput('x', ['num_tokens', 8], 'float32');
  const lin = (t: ReturnType<typeof n.addInput>, p: string, rows: number, cols: number) =>
    F.matmul(t, n.addWeight(`model.layers.0.mlp.${p}.weight`, [rows, cols], 'float32'), { transposeB: true });
  const h = F.mul(lin(x, 'up_proj', 6, 8), F.silu(lin(x, 'gate_proj', 6, 8))); // up first, silu operand second
  n.markOutput('y', lin(h, 'down_proj', 8, 6));
  return n;
}

describe('merge-gate-up', () => {
  it('turns mul(silu(gate), up) into matmul on [gate; up] + silu_mul', () => {
    const net = mlpNet();
    const weights = weightsFor(net.toGraph());
    const base = build(net, weights, []);
    const merged = build(net, weights, [P('merge-gate-up', mergeGateUp), P('dce', dce)]);
    expect(ops(base)).toEqual(['matmul', 'matmul', 'silu', 'mul', 'matmul']);
    expect(ops(merged)).toEqual(['matmul', 'silu_mul', 'matmul']);
    const w = merged.weights.get('model.layers.0.mlp.gate_up_proj.weight');
    expect(w.shape).toEqual([12, 8]);
    expect(Array.from(w.data.subarray(0, 48))).toEqual(Array.from(weights.get('model.layers.0.mlp.gate_proj.weight').data));
    expect([...merged.weights.names()].sort()).toEqual(['model.layers.0.mlp.down_proj.weight', 'model.layers.0.mlp.gate_up_proj.weight']);
    expect(merged.config.passLog[0]).toBe('merge-gate-up: merged 1 gate/up pair (2 matmuls + 1 silu + 1 mul → 1 matmuls + 1 silu_mul)');
    expectSameOutputs(run(base, { x: input([T, 8]) }), run(merged, { x: input([T, 8]) }));
  });

  it('does not merge when silu(gate) has another reader', () => {
    const n = new Network();
    const x = n.addInput('x', [2, 4], 'float32');
    const g = F.silu(F.matmul(x, n.addWeight('gate_proj.weight', [4, 4], 'float32'), { transposeB: true }));
    const u = F.matmul(x, n.addWeight('up_proj.weight', [4, 4], 'float32'), { transposeB: true });
    n.markOutput('y', F.mul(g, u));
    n.markOutput('g', g);
    const graph = n.toGraph();
    expect(ops(mergeGateUp(graph, weightsFor(graph)).graph)).toEqual(['matmul', 'silu', 'matmul', 'mul']);
  });
});

describe('fuse-matmul-epilogue', () => {
  for (const act of ['relu', 'gelu', 'silu'] as const) {
    it(`fuses the seed's act(add(matmul(x, w), b)) with ${act}`, () => {
      const n = new Network();
      const x = n.addInput('x', [3, 4], 'float32');
      const y = F[act](F.add(F.matmul(x, n.addWeight('w', [4, 5], 'float32')), n.addWeight('b', [5], 'float32')));
      n.markOutput('y', y);
      const weights = weightsFor(n.toGraph());
      const base = build(n, weights, []);
      const fused = build(n, weights, [P('fuse', fuseMatmulEpilogue)]);
      expect(ops(fused)).toEqual(['fused_matmul']);
      expect(fused.graph.nodes[0]!.attrs).toEqual({ transposeB: false, hasBias: true, activation: act });
      expect(fused.config.passLog[0]).toBe(`fuse-matmul-epilogue: fused 1 matmul with their epilogue into fused_matmul (1 bias+${act})`);
      expectSameOutputs(run(base, { x: input([3, 4]) }), run(fused, { x: input([3, 4]) }));
    });
  }

  it('stops at the bias when the sum has another reader, and skips non-bias adds', () => {
    const n = new Network();
    const x = n.addInput('x', [3, 4], 'float32');
    const s = F.add(F.matmul(x, n.addWeight('w', [4, 4], 'float32')), n.addWeight('b', [4], 'float32'));
    n.markOutput('r', F.relu(s));
    n.markOutput('s', s);
    const other = F.add(F.matmul(x, n.addWeight('w2', [4, 4], 'float32')), x); // residual, not a bias
    n.markOutput('o', other);
    const weights = weightsFor(n.toGraph());
    const base = build(n, weights, []);
    const fused = build(n, weights, [P('fuse', fuseMatmulEpilogue)]);
    expect(ops(fused)).toEqual(['fused_matmul', 'relu', 'matmul', 'add']);
    expect(fused.graph.nodes[0]!.attrs['activation']).toBe('none');
    expectSameOutputs(run(base, { x: input([3, 4]) }), run(fused, { x: input([3, 4]) }));
  });
});

describe('fuse-add-rmsnorm', () => {
  it('fuses residual add + rmsnorm and rewires later readers of the sum', () => {
    const n = new Network();
    const x = n.addInput('x', ['num_tokens', 6], 'float32');
    const r = n.addInput('r', ['num_tokens', 6], 'float32');
    const h = F.add(x, r);
    const normed = F.rmsnorm(h, n.addWeight('norm.weight', [6], 'float32'), 1e-5);
    const y = F.add(h, F.relu(normed)); // later reader of the sum
    n.markOutput('y', F.rmsnorm(y, n.addWeight('final.weight', [6], 'float32'), 1e-6));
    const weights = weightsFor(n.toGraph());
    const base = build(n, weights, []);
    const fused = build(n, weights, [P('fuse', fuseAddRmsnorm)]);
    expect(ops(base)).toEqual(['add', 'rmsnorm', 'relu', 'add', 'rmsnorm']);
    expect(ops(fused)).toEqual(['add_rmsnorm', 'relu', 'add_rmsnorm']);
    const [first, , last] = fused.graph.nodes;
    expect(first!.attrs).toEqual({ eps: 1e-5 });
    expect(last!.attrs).toEqual({ eps: 1e-6 });
    expect(last!.inputs[0]).toBe(first!.outputs[1]); // the sum feeds the second residual add
    expect(fused.config.passLog[0]).toBe('fuse-add-rmsnorm: fused 2 residual add + rmsnorm pairs into add_rmsnorm (4 nodes → 2)');
    const inputs = { x: input([T, 6], 3), r: input([T, 6], 4) };
    expectSameOutputs(run(base, inputs), run(fused, inputs));
  });
});

describe('dce', () => {
  it('drops dead nodes and unreferenced weights, keeps inputs, renumbers densely', () => {
    const n = new Network();
    const x = n.addInput('x', [2, 4], 'float32');
    n.addInput('unused', [2], 'int32');
    F.relu(F.matmul(x, n.addWeight('dead.weight', [4, 4], 'float32'))); // never reaches an output
    n.markOutput('y', F.silu(F.matmul(x, n.addWeight('live.weight', [4, 4], 'float32'))));
    const g = n.toGraph();
    const r = dce(g, weightsFor(g));
    expect(ops(r.graph)).toEqual(['matmul', 'silu']);
    expect(r.graph.tensors.map((t) => t.id)).toEqual([0, 1, 2, 3, 4]);
    expect(r.graph.tensors.filter((t) => t.kind === 'input').map((t) => t.name)).toEqual(['x', 'unused']);
    expect(r.weights.names()).toEqual(['live.weight']);
    expect(r.weights.has('dead.weight')).toBe(false);
    expect(r.log).toEqual(['dce: removed 2 nodes, 3 tensors and 1 weight no longer referenced']);
    validateGraph(r.graph);
  });
});

describe('default passes', () => {
  it('run in the documented order', () => {
    expect(DEFAULT_PASSES.map((p) => p.name)).toEqual(['merge-qkv', 'merge-gate-up', 'fuse-matmul-epilogue', 'fuse-add-rmsnorm', 'dce']);
  });
});
