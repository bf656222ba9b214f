import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/builder/builder.js';
import { registerTargetBuilder } from '../../src/builder/targets.js';
import { createEngineSections, ENGINE_FORMAT_VERSION } from '../../src/engine/format.js';
import { loadEngine } from '../../src/engine/reader.js';
import { saveEngine } from '../../src/engine/writer.js';
import { BackendError, ConfigError } from '../../src/errors/index.js';
import { Network } from '../../src/graph/network.js';
import { Tensor } from '../../src/graph/tensor.js';
import * as F from '../../src/graph/functional.js';
import type { HostTensor } from '../../src/backends/types.js';
import { build, expectSameOutputs, ops, run, weightsFor } from './helpers.js';

const H = 8;
const I = 12;
const V = 20;

/** A Llama-shaped network without attention (q·(k+v) stands in for it), 2 layers, Qwen2-style biases. */
function llamaLike(numLayers = 2): Network {
  const n = new Network();
  const ids = n.addInput('input_ids', ['num_tokens'], 'int32');
  const logitsIdx = n.addInput('logits_indices', ['num_logits'], 'int32');
  const w = (name: string, shape: number[]) => n.addWeight(name, shape, 'float32');
  const lin = (x: Tensor, name: string, rows: number, cols: number, bias = false) => {
    const y = F.matmul(x, w(`${name}.weight`, [rows, cols]), { transposeB: true });
    return bias ? F.add(y, w(`${name}.bias`, [rows])) : y;
  };
  let h = F.embedding(ids, w('model.embed_tokens.weight', [V, H]));
  for (let l = 0; l < numLayers; l++) {
    const p = `model.layers.${l}`;
    const x = F.rmsnorm(h, w(`${p}.input_layernorm.weight`, [H]), 1e-6);
    const q = lin(x, `${p}.self_attn.q_proj`, H, H, true);
    const k = lin(x, `${p}.self_attn.k_proj`, H, H, true);
    const v = lin(x, `${p}.self_attn.v_proj`, H, H, true);
    h = F.add(h, lin(F.mul(q, F.add(k, v)), `${p}.self_attn.o_proj`, H, H));
    const x2 = F.rmsnorm(h, w(`${p}.post_attention_layernorm.weight`, [H]), 1e-6);
    const act = F.mul(F.silu(lin(x2, `${p}.mlp.gate_proj`, I, H)), lin(x2, `${p}.mlp.up_proj`, I, H));
    h = F.add(h, lin(act, `${p}.mlp.down_proj`, H, I));
  }
  const last = F.gatherRows(F.rmsnorm(h, w('model.norm.weight', [H]), 1e-6), logitsIdx);
  n.markOutput('logits', lin(last, 'lm_head', V, H));
  return n;
}

const stepInputs = (): Record<string, HostTensor> => ({
  input_ids: { dtype: 'int32', shape: [6], data: Int32Array.from([1, 5, 19, 0, 7, 7]) },
  logits_indices: { dtype: 'int32', shape: [2], data: Int32Array.from([2, 5]) },
});

describe('Builder.buildEngine', () => {
  it('runs all passes on a Llama-shaped network: exact ops, logs, plan and unchanged logits', () => {
    const net = llamaLike();
    const weights = weightsFor(net.toGraph());
    const lines: string[] = [];
    const engine = new Builder().buildEngine(net, { target: 'cpu', weights, onLog: (l) => lines.push(l), settings: { maxNumTokens: 64, maxBatchSize: 4 } });
    const layer = ['fused_matmul', 'split', 'add', 'mul', 'matmul', 'add_rmsnorm', 'matmul', 'silu_mul', 'matmul'];
    expect(ops(engine)).toEqual(['embedding', 'rmsnorm', ...layer, 'add_rmsnorm', ...layer, 'add_rmsnorm', 'gather_rows', 'matmul']);
    expect(lines).toEqual(engine.config.passLog);
    expect(lines.slice(0, 5)).toEqual([
      'merge-qkv: merged 2 q/k/v groups (6 matmuls → 2 matmuls + 2 splits; 2 with merged bias)',
      'merge-gate-up: merged 2 gate/up pairs (4 matmuls + 2 silu + 2 mul → 2 matmuls + 2 silu_mul)',
      'fuse-matmul-epilogue: fused 2 matmuls with their epilogue into fused_matmul (2 bias only)',
      'fuse-add-rmsnorm: fused 4 residual add + rmsnorm pairs into add_rmsnorm (8 nodes → 4)',
      // per layer: 6 q/k/v weights+biases, 3 projection outputs, the merged matmul's pre-bias output, 2 gate/up weights, 3 gate/silu/up outputs
      'dce: removed 0 nodes, 30 tensors and 16 weights no longer referenced',
    ]);
    expect(lines[5]).toMatch(/^memory plan: peak \d+\.\d\d MiB vs \d+\.\d\d MiB without reuse/);
    expect(engine.config).toMatchObject({
      formatVersion: ENGINE_FORMAT_VERSION, target: 'cpu', gpuArch: null, tpSize: 1, model: null,
      build: { maxBatchSize: 4, maxInputLen: 1024, maxOutputLen: 1024, maxNumTokens: 64, dtype: 'float32' },
    });
    expect(engine.config.plan.peakBytes).toBeLessThan(engine.config.plan.naiveBytes);
    expect(engine.weights.names().filter((n) => n.includes('layers.0')).sort()).toEqual([
      'model.layers.0.input_layernorm.weight', 'model.layers.0.mlp.down_proj.weight', 'model.layers.0.mlp.gate_up_proj.weight',
      'model.layers.0.post_attention_layernorm.weight', 'model.layers.0.self_attn.o_proj.weight',
      'model.layers.0.self_attn.qkv_proj.bias', 'model.layers.0.self_attn.qkv_proj.weight',
    ]);
    expectSameOutputs(run(build(net, weights, []), stepInputs()), run(engine, stepInputs()));
  });

  it('builds, saves and loads: the loaded engine gives the same logits', () => {
    const net = llamaLike(1);
    const weights = weightsFor(net.toGraph());
    const engine = build(net, weights);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-build-'));
    try {
      saveEngine(engine, path.join(dir, 'e'));
      const loaded = loadEngine(path.join(dir, 'e'), { target: 'cpu' });
      expect(loaded.config).toEqual(JSON.parse(JSON.stringify(engine.config)));
      expectSameOutputs(run(engine, stepInputs()), run(loaded, stepInputs()));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("builds the seed's example: create a network, relu(add(matmul(x, w), b)), run it", () => {
    const builder = new Builder();
    builder.createNetwork();
    const x = new Tensor({ name: 'x', shape: [2, 3], dtype: 'float32' });
    const net = x.network;
    const y = F.relu(F.add(F.matmul(x, net.addWeight('w', [3, 2], 'float32')), net.addWeight('b', [2], 'float32')));
    net.markOutput('y', y);
    const weights = { w: Float32Array.from([1, 2, 3, 4, 5, 6]), b: Float32Array.from([0.5, -100]) };
    const engine = builder.buildEngine(net, {
      target: 'cpu',
      weights: { names: () => ['w', 'b'], has: (n) => n in weights, get: (n) => ({ dtype: 'float32', shape: n === 'w' ? [3, 2] : [2], data: weights[n as 'w' | 'b'] }) },
    });
    expect(ops(engine)).toEqual(['fused_matmul']);
    const out = run(engine, { x: { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, 0, -1, 2, 1, 0]) } });
    // [1,0,-1]·w = [1-5, 2-6] = [-4, -4] → +b → [-3.5, -104] → relu → [0, 0]; [2,1,0]·w = [5, 8] → [5.5, -92] → [5.5, 0]
    expect(Array.from(out['y']!.data)).toEqual([0, 0, 5.5, 0]);
  });

  it('validates settings at the edge, naming the flag', () => {
    const net = llamaLike(1);
    const weights = weightsFor(net.toGraph());
    const b = new Builder();
    expect(() => b.buildEngine(net, { target: 'cpu', weights, settings: { maxBatchSize: 0 } })).toThrow(ConfigError);
    expect(() => b.buildEngine(net, { target: 'cpu', weights, settings: { maxBatchSize: 0 } })).toThrow('--max_batch_size must be a positive integer, got 0');
    expect(() => b.buildEngine(net, { target: 'cpu', weights, settings: { maxNumTokens: 2.5 } })).toThrow('--max_num_tokens must be a positive integer, got 2.5');
    expect(() => b.buildEngine(net, { target: 'cpu', weights, settings: { dtype: 'int8' as 'float32' } })).toThrow("--dtype must be one of float32, float16, bfloat16, got \"int8\"");
    expect(() => b.buildEngine(net, { target: 'cpu', weights, settings: { maxBeams: 2 } as never })).toThrow(/unknown build setting\(s\) maxBeams/);
  });

  it('takes the dtype from the model, else from the weights', () => {
    const n = new Network();
    const x = n.addInput('x', [2, 4], 'float32');
    n.markOutput('y', F.matmul(x, n.addWeight('w', [4, 4], 'bfloat16')));
    const g = n.toGraph();
    expect(build(g, weightsFor(g)).config.build.dtype).toBe('bfloat16');
  });

  it('names missing weights', () => {
    const net = llamaLike(1);
    expect(() => new Builder().buildEngine(net, { target: 'cpu' })).toThrow(/reads weight\(s\) 'model\.embed_tokens\.weight', .* and \d+ more that the weights given to buildEngine do not have/);
  });

  it('hands non-cpu targets to the registered target builder, else throws BackendError', () => {
    const net = llamaLike(1);
    const weights = weightsFor(net.toGraph());
    const b = new Builder();
    expect(() => b.buildEngine(net, { target: 'cuda', weights })).toThrow(BackendError);
    expect(() => b.buildEngine(net, { target: 'cuda', weights })).toThrow(/--target cuda needs the cuda builder/);
    const unregister = registerTargetBuilder('cuda', (engine, ctx) => {
      ctx.log('cuda: compiled 0 kernels');
      return { ...engine, config: { ...engine.config, gpuArch: 'sm_90' }, sections: createEngineSections([{ name: 'k', kind: 'cubin', data: new Uint8Array(4) }]) };
    });
    const e = b.buildEngine(net, { target: 'cuda', weights });
    expect(e.config.gpuArch).toBe('sm_90');
    expect(e.config.passLog.at(-1)).toBe('cuda: compiled 0 kernels');
    expect(e.sections?.list('cubin')).toHaveLength(1);
    unregister();
    expect(() => b.buildEngine(net, { target: 'cuda', weights })).toThrow(BackendError);
  });
});
