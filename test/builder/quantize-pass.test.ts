/** The quantize pass: what it rewrites, the weights it declares, what it leaves alone, and its errors. */
import { describe, expect, it } from 'vitest';
import { Builder } from '../../src/builder/builder.js';
import { createQuantizePass, type QuantizePassConfig } from '../../src/builder/passes/quantize.js';
import { DEFAULT_PASSES } from '../../src/builder/passes/index.js';
import { openCheckpoint } from '../../src/checkpoint/index.js';
import { ConfigError } from '../../src/errors/index.js';
import { validateGraph } from '../../src/graph/validate.js';
import { defineLlama } from '../../src/models/llama.js';
import { DEFAULT_EXCLUDED } from '../../src/quant/types.js';
import { fixtureConfig, fixtureDir, SETTINGS } from '../quant/helpers.js';

const BASE: QuantizePassConfig = {
  format: 'int4_wo', fp8WeightScale: 'tensor', fp8Activation: 'dynamic', groupSize: 64,
  inputAmax: new Map(), awqScales: new Map(), kv: null, excluded: [...DEFAULT_EXCLUDED],
};

function buildWith(name: string, cfg: QuantizePassConfig) {
  const dir = fixtureDir(name);
  const model = fixtureConfig(dir);
  const ckpt = openCheckpoint(dir);
  const builder = new Builder();
  const network = builder.createNetwork();
  defineLlama(network, model);
  try {
    const engine = builder.buildEngine(network, { target: 'cpu', weights: ckpt, model, settings: SETTINGS, passes: [{ name: 'quantize', run: createQuantizePass(cfg) }, ...DEFAULT_PASSES] });
    const weights = new Map(engine.weights.names().map((n) => [n, engine.weights.get(n)]));
    return { engine, weights };
  } finally {
    ckpt.dispose();
  }
}

describe('quantize pass', () => {
  it('rewrites every projection into wo_matmul, keeps lm_head, declares packed int4 weights', () => {
    const { engine, weights } = buildWith('llama3-gqa', BASE);
    validateGraph(engine.graph);
    const ops = engine.graph.nodes.map((n) => n.op);
    expect(ops.filter((o) => o === 'wo_matmul')).toHaveLength(14); // 2 layers × (q, k, v, o, gate, up, down)
    expect(ops.filter((o) => o === 'matmul')).toHaveLength(1); // lm_head
    expect(engine.config.passLog[0]).toBe('quantize: 14 linears → wo_matmul (kept unquantized: model.embed_tokens.weight, lm_head.weight)');
    expect(weights.get('lm_head.weight')?.dtype).toBe('float32');
    expect(weights.has('model.layers.0.mlp.down_proj.weight')).toBe(false);
    const down = weights.get('model.layers.0.mlp.down_proj.qweight')!;
    expect([down.dtype, ...down.shape]).toEqual(['uint8', 64, 80]); // [N, K/2], K = 160
    expect(weights.get('model.layers.0.mlp.down_proj.weight_scale')!.shape).toEqual([64, 3]); // ceil(160 / 64) groups
    const node = engine.graph.nodes.find((n) => n.op === 'wo_matmul')!;
    expect(node.attrs).toEqual({ bits: 4, groupSize: 64, inFeatures: 64, hasZeros: false, hasPreScale: false });
  });

  it('fp8 static: per-channel scales and one input scale per linear; tied embeddings stay float', () => {
    const amax = new Map<string, number>();
    for (let l = 0; l < 2; l++) for (const p of ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']) amax.set(`model.layers.${l}.${p}.weight`, 4.48);
    const { engine, weights } = buildWith('qwen2-bias-tied-bf16', { ...BASE, format: 'fp8', fp8WeightScale: 'channel', fp8Activation: 'static', inputAmax: amax });
    expect(engine.graph.nodes.filter((n) => n.op === 'fp8_matmul')).toHaveLength(14);
    expect(weights.get('model.layers.1.self_attn.k_proj.weight_scale')!.shape).toEqual([32]); // 2 kv heads × 16
    expect(Array.from(weights.get('model.layers.1.self_attn.k_proj.input_scale')!.data)).toEqual([Math.fround(4.48 / 448)]);
    expect(weights.get('model.embed_tokens.weight')!.dtype).toBe('bfloat16');
    // q/k/v biases remain separate adds after the quantized GEMMs.
    expect(engine.graph.nodes.filter((n) => n.op === 'add').length).toBeGreaterThanOrEqual(6);
  });

  it('marks attention for an fp8 KV cache with per-layer scales', () => {
    const { engine } = buildWith('mistral-mqa', { ...BASE, format: null, kv: { kScales: [0.5, 0.25], vScales: [2, 4] } });
    const att = engine.graph.nodes.filter((n) => n.op === 'attention');
    expect(att.map((n) => [n.attrs['kvCacheDtype'], n.attrs['kScale'], n.attrs['vScale']])).toEqual([['fp8e4m3', 0.5, 2], ['fp8e4m3', 0.25, 4]]);
    expect(engine.graph.nodes.some((n) => n.op === 'wo_matmul' || n.op === 'fp8_matmul')).toBe(false);
  });

  it('static fp8 without calibration data is a ConfigError naming the weight and the flag', () => {
    expect(() => buildWith('llama3-gqa', { ...BASE, format: 'fp8', fp8Activation: 'static' })).toThrow(ConfigError);
    expect(() => buildWith('llama3-gqa', { ...BASE, format: 'fp8', fp8Activation: 'static' })).toThrow(/'model\.layers\.0\.self_attn\.q_proj\.weight'.*--calib_size/);
  });
});
