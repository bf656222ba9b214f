import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '../../src/backends/cpu/index.js';
import { Builder } from '../../src/builder/builder.js';
import type { Engine } from '../../src/engine/types.js';
import { Network } from '../../src/graph/network.js';
import type { GraphDef, NodeDef } from '../../src/graph/types.js';
import type { ModelConfig } from '../../src/models/config.js';
import { defineModel, MODEL_REGISTRY } from '../../src/models/index.js';
import { defineLlama } from '../../src/models/llama.js';
import { expectedWeights } from '../../src/models/weights.js';
import { SingleSequence } from './single-sequence.js';
import { randomWeights, tinyConfig } from './tiny.js';

function graphOf(config: ModelConfig): GraphDef {
  const network = new Network();
  defineLlama(network, config);
  return network.toGraph();
}

function countOps(graph: GraphDef): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of graph.nodes) counts[n.op] = (counts[n.op] ?? 0) + 1;
  return counts;
}

const tensorName = (g: GraphDef, id: number | undefined): string | undefined => (id === undefined ? undefined : g.tensors[id]?.name);

describe('defineLlama: the graph', () => {
  it('has the fixed LLM inputs and a float32 logits output', () => {
    const g = graphOf(tinyConfig());
    expect(g.inputs.map((id) => g.tensors[id])).toMatchObject([
      { name: 'input_ids', shape: ['num_tokens'], dtype: 'int32', kind: 'input' },
      { name: 'positions', shape: ['num_tokens'], dtype: 'int32', kind: 'input' },
      { name: 'logits_indices', shape: ['num_logits'], dtype: 'int32', kind: 'input' },
    ]);
    expect(g.outputs).toHaveLength(1);
    expect(g.outputs[0]!.name).toBe('logits');
    expect(g.tensors[g.outputs[0]!.tensor]).toMatchObject({ shape: ['num_logits', 40], dtype: 'float32' });
  });

  it('declares exactly the expected weights, in the checkpoint dtype', () => {
    for (const config of [tinyConfig(), tinyConfig({ qkvBias: true, tieWordEmbeddings: true, dtype: 'bfloat16' }), tinyConfig({ qkvBias: true, oProjBias: true })]) {
      const g = graphOf(config);
      const weights = g.tensors.filter((t) => t.kind === 'weight');
      expect(weights.map((t) => ({ name: t.name, shape: t.shape }))).toEqual(expectedWeights(config));
      expect(new Set(weights.map((t) => t.dtype))).toEqual(new Set([config.dtype]));
    }
  });

  it('has the per-layer op counts of a pre-norm SwiGLU decoder', () => {
    const L = 2;
    expect(countOps(graphOf(tinyConfig()))).toEqual({
      embedding: 1, rmsnorm: 2 * L + 1, matmul: 7 * L + 1, rope: 2 * L, attention: L, add: 2 * L, silu: L, mul: L, gather_rows: 1,
    });
    // q/k/v biases: three adds per layer; o_proj bias one more; bf16 weights: one cast of the embedding rows.
    expect(countOps(graphOf(tinyConfig({ qkvBias: true }))).add).toBe(5 * L);
    expect(countOps(graphOf(tinyConfig({ qkvBias: true, oProjBias: true }))).add).toBe(6 * L);
    expect(countOps(graphOf(tinyConfig({ dtype: 'bfloat16' }))).cast).toBe(1);
  });

  it('passes heads, head_dim, rope settings and the layer index to rope and attention', () => {
    const scaling = { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 32 } as const;
    const g = graphOf(tinyConfig({ numLayers: 3, ropeScaling: scaling, ropeTheta: 5e5 }));
    const ropes = g.nodes.filter((n) => n.op === 'rope');
    expect(ropes.map((n) => n.attrs.numHeads)).toEqual([4, 2, 4, 2, 4, 2]);
    for (const r of ropes) expect(r.attrs).toMatchObject({ headDim: 4, theta: 5e5, scaling });
    const attns = g.nodes.filter((n) => n.op === 'attention');
    expect(attns.map((n) => n.attrs)).toEqual([0, 1, 2].map((layer) => ({ numHeads: 4, numKvHeads: 2, headDim: 4, layer, scale: null })));
  });

  it('the LM head reads embed_tokens when tied and lm_head otherwise, after gathering logits rows', () => {
    for (const [tied, name] of [[true, 'model.embed_tokens.weight'], [false, 'lm_head.weight']] as const) {
      const g = graphOf(tinyConfig({ tieWordEmbeddings: tied }));
      const last = g.nodes.filter((n) => n.op === 'matmul').at(-1) as NodeDef;
      expect(tensorName(g, last.inputs[1])).toBe(name);
      expect(last.attrs.transposeB).toBe(true);
      const producer = g.nodes.find((n) => n.outputs.includes(last.inputs[0]!));
      expect(producer?.op).toBe('gather_rows');
    }
  });

  it('shape mistakes in the config surface as ShapeError naming the op', () => {
    expect(() => graphOf(tinyConfig({ headDim: 3 }))).toThrow(/rope: headDim must be even/);
  });

  it('the registry maps every family to a define function', () => {
    expect(Object.keys(MODEL_REGISTRY).sort()).toEqual(['llama', 'mistral', 'qwen2']);
    const network = new Network();
    const logits = defineModel(network, tinyConfig({ family: 'qwen2', qkvBias: true }));
    expect(logits.shape).toEqual(['num_logits', 40]);
  });
});

function build(config: ModelConfig, fuse: boolean): Engine {
  const builder = new Builder();
  const network = builder.createNetwork();
  defineLlama(network, config);
  return builder.buildEngine(network, {
    target: 'cpu', weights: randomWeights(config), model: config,
    settings: { maxBatchSize: 1, maxInputLen: 32, maxOutputLen: 32, maxNumTokens: 64 },
    ...(fuse ? {} : { passes: [] }),
  });
}

describe('defineLlama: the builder recognises its patterns', () => {
  it('merges q/k/v (with biases) and gate/up, fuses residual add + rmsnorm', () => {
    const config = tinyConfig({ qkvBias: true, numLayers: 3 });
    const engine = build(config, true);
    const ops = countOps(engine.graph);
    expect(ops.add_rmsnorm).toBe(2 * 3);
    expect(ops.silu_mul).toBe(3);
    expect(ops.rmsnorm).toBe(1); // only layer 0's input norm has no residual add before it
    const weights = engine.graph.tensors.filter((t) => t.kind === 'weight').map((t) => t.name);
    expect(weights).toContain('model.layers.2.self_attn.qkv_proj.weight');
    expect(weights).toContain('model.layers.2.self_attn.qkv_proj.bias');
    expect(weights).toContain('model.layers.2.mlp.gate_up_proj.weight');
    expect(weights).not.toContain('model.layers.0.self_attn.q_proj.weight');
  });

  it('fused and unfused engines compute the same logits on the CPU backend', () => {
    const config = tinyConfig({ qkvBias: true, oProjBias: true, dtype: 'bfloat16' });
    const ids = [3, 17, 5, 39, 0, 22, 8];
    const run = (engine: Engine): Float32Array[] => {
      const ctx = createCpuBackend().createContext(engine, {
        kvCache: { numLayers: 2, numKvHeads: 2, headDim: 4, numBlocks: 2, tokensPerBlock: 16, dtype: 'float32' },
      });
      const seq = new SingleSequence(ctx, Int32Array.from([1, 0]), config.vocabSize);
      const out = [seq.prefill(ids), seq.decode(11), seq.decode(30)];
      ctx.dispose();
      return out;
    };
    const fused = run(build(config, true));
    const plain = run(build(config, false));
    // Same math in another order (merged matmuls, fused epilogues): float32 rounding only.
    fused.forEach((rows, i) => rows.forEach((v, j) => expect(Math.abs(v - plain[i]![j]!)).toBeLessThan(1e-4)));
  });
});
