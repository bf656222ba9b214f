import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../../src/models/hf-config.js';
import { expectedWeights } from '../../src/models/weights.js';
import { LLAMA_2_7B, LLAMA_3_2_1B, MISTRAL_7B_V01, QWEN2_0_5B, QWEN2_5_7B_INSTRUCT } from './real-configs.js';

const numParams = (json: Record<string, unknown>): number =>
  expectedWeights(parseHfConfig(json, 'c')).reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1), 0);

describe('expectedWeights', () => {
  // The published parameter counts of these checkpoints (model cards / safetensors metadata on
  // the Hugging Face Hub): an outside check that every tensor and shape is accounted for.
  it.each([
    ['Llama-2-7b', LLAMA_2_7B, 6_738_415_616],
    ['Mistral-7B-v0.1', MISTRAL_7B_V01, 7_241_732_096],
    ['Llama-3.2-1B (tied)', LLAMA_3_2_1B, 1_235_814_400],
    ['Qwen2-0.5B (tied, q/k/v bias)', QWEN2_0_5B, 494_032_768],
  ])('%s has the published parameter count', (_name, json, count) => {
    expect(numParams(json)).toBe(count);
  });

  it('lists one layer in HF names and Linear [out, in] shapes (Qwen2.5-7B, GQA with bias)', () => {
    const specs = expectedWeights(parseHfConfig(QWEN2_5_7B_INSTRUCT, 'c'));
    expect(specs).toHaveLength(1 + 28 * 12 + 2);
    expect(specs[0]).toEqual({ name: 'model.embed_tokens.weight', shape: [152064, 3584] });
    expect(specs.slice(1, 13)).toEqual([
      { name: 'model.layers.0.input_layernorm.weight', shape: [3584] },
      { name: 'model.layers.0.self_attn.q_proj.weight', shape: [3584, 3584] },
      { name: 'model.layers.0.self_attn.k_proj.weight', shape: [512, 3584] },
      { name: 'model.layers.0.self_attn.v_proj.weight', shape: [512, 3584] },
      { name: 'model.layers.0.self_attn.q_proj.bias', shape: [3584] },
      { name: 'model.layers.0.self_attn.k_proj.bias', shape: [512] },
      { name: 'model.layers.0.self_attn.v_proj.bias', shape: [512] },
      { name: 'model.layers.0.self_attn.o_proj.weight', shape: [3584, 3584] },
      { name: 'model.layers.0.post_attention_layernorm.weight', shape: [3584] },
      { name: 'model.layers.0.mlp.gate_proj.weight', shape: [18944, 3584] },
      { name: 'model.layers.0.mlp.up_proj.weight', shape: [18944, 3584] },
      { name: 'model.layers.0.mlp.down_proj.weight', shape: [3584, 18944] },
    ]);
    expect(specs.slice(-2)).toEqual([
      { name: 'model.norm.weight', shape: [3584] },
      { name: 'lm_head.weight', shape: [152064, 3584] },
    ]);
  });

  it('tied embeddings have no lm_head; Llama attention_bias adds q/k/v/o biases', () => {
    expect(expectedWeights(parseHfConfig(LLAMA_3_2_1B, 'c')).map((w) => w.name)).not.toContain('lm_head.weight');
    const names = expectedWeights(parseHfConfig({ ...LLAMA_2_7B, attention_bias: true }, 'c')).map((w) => w.name);
    for (const p of ['q', 'k', 'v', 'o']) expect(names).toContain(`model.layers.31.self_attn.${p}_proj.bias`);
    expect(new Set(names).size).toBe(names.length);
  });
});
