import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/index.js';
import type { ModelConfig } from '../../src/models/config.js';
import { parseHfConfig } from '../../src/models/hf-config.js';
import {
  LLAMA_2_7B, LLAMA_3_1_8B_INSTRUCT, LLAMA_3_2_1B, LLAMA_3_8B, MISTRAL_7B_V01, MISTRAL_7B_V03, QWEN2_0_5B,
  QWEN2_5_7B_INSTRUCT, toV5, type Json,
} from './real-configs.js';

const LLAMA3_ROPE_8 = { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 } as const;

const EXPECTED: readonly [string, Json, ModelConfig][] = [
  ['Llama-2-7b', LLAMA_2_7B, {
    family: 'llama', architecture: 'LlamaForCausalLM', vocabSize: 32000, hiddenSize: 4096, intermediateSize: 11008,
    numLayers: 32, numHeads: 32, numKvHeads: 32, headDim: 128, rmsNormEps: 1e-5, ropeTheta: 10000,
    ropeScaling: { type: 'default' }, maxPositionEmbeddings: 4096, tieWordEmbeddings: false, qkvBias: false,
    oProjBias: false, slidingWindow: null, dtype: 'float16', bosTokenId: 1, eosTokenIds: [2],
  }],
  ['Llama-3-8B', LLAMA_3_8B, {
    family: 'llama', architecture: 'LlamaForCausalLM', vocabSize: 128256, hiddenSize: 4096, intermediateSize: 14336,
    numLayers: 32, numHeads: 32, numKvHeads: 8, headDim: 128, rmsNormEps: 1e-5, ropeTheta: 500000,
    ropeScaling: { type: 'default' }, maxPositionEmbeddings: 8192, tieWordEmbeddings: false, qkvBias: false,
    oProjBias: false, slidingWindow: null, dtype: 'bfloat16', bosTokenId: 128000, eosTokenIds: [128001],
  }],
  ['Llama-3.1-8B-Instruct', LLAMA_3_1_8B_INSTRUCT, {
    family: 'llama', architecture: 'LlamaForCausalLM', vocabSize: 128256, hiddenSize: 4096, intermediateSize: 14336,
    numLayers: 32, numHeads: 32, numKvHeads: 8, headDim: 128, rmsNormEps: 1e-5, ropeTheta: 500000,
    ropeScaling: LLAMA3_ROPE_8, maxPositionEmbeddings: 131072, tieWordEmbeddings: false, qkvBias: false,
    oProjBias: false, slidingWindow: null, dtype: 'bfloat16', bosTokenId: 128000, eosTokenIds: [128001, 128008, 128009],
  }],
  ['Llama-3.2-1B', LLAMA_3_2_1B, {
    family: 'llama', architecture: 'LlamaForCausalLM', vocabSize: 128256, hiddenSize: 2048, intermediateSize: 8192,
    numLayers: 16, numHeads: 32, numKvHeads: 8, headDim: 64, rmsNormEps: 1e-5, ropeTheta: 500000,
    ropeScaling: { ...LLAMA3_ROPE_8, factor: 32 }, maxPositionEmbeddings: 131072, tieWordEmbeddings: true,
    qkvBias: false, oProjBias: false, slidingWindow: null, dtype: 'bfloat16', bosTokenId: 128000, eosTokenIds: [128001],
  }],
  ['Mistral-7B-v0.1', MISTRAL_7B_V01, {
    family: 'mistral', architecture: 'MistralForCausalLM', vocabSize: 32000, hiddenSize: 4096, intermediateSize: 14336,
    numLayers: 32, numHeads: 32, numKvHeads: 8, headDim: 128, rmsNormEps: 1e-5, ropeTheta: 10000,
    ropeScaling: { type: 'default' }, maxPositionEmbeddings: 32768, tieWordEmbeddings: false, qkvBias: false,
    oProjBias: false, slidingWindow: 4096, dtype: 'bfloat16', bosTokenId: 1, eosTokenIds: [2],
  }],
  ['Mistral-7B-v0.3', MISTRAL_7B_V03, {
    family: 'mistral', architecture: 'MistralForCausalLM', vocabSize: 32768, hiddenSize: 4096, intermediateSize: 14336,
    numLayers: 32, numHeads: 32, numKvHeads: 8, headDim: 128, rmsNormEps: 1e-5, ropeTheta: 1000000,
    ropeScaling: { type: 'default' }, maxPositionEmbeddings: 32768, tieWordEmbeddings: false, qkvBias: false,
    oProjBias: false, slidingWindow: null, dtype: 'bfloat16', bosTokenId: 1, eosTokenIds: [2],
  }],
  ['Qwen2.5-7B-Instruct', QWEN2_5_7B_INSTRUCT, {
    family: 'qwen2', architecture: 'Qwen2ForCausalLM', vocabSize: 152064, hiddenSize: 3584, intermediateSize: 18944,
    numLayers: 28, numHeads: 28, numKvHeads: 4, headDim: 128, rmsNormEps: 1e-6, ropeTheta: 1000000,
    ropeScaling: { type: 'default' }, maxPositionEmbeddings: 32768, tieWordEmbeddings: false, qkvBias: true,
    oProjBias: false, slidingWindow: null, dtype: 'bfloat16', bosTokenId: 151643, eosTokenIds: [151645],
  }],
  ['Qwen2-0.5B', QWEN2_0_5B, {
    family: 'qwen2', architecture: 'Qwen2ForCausalLM', vocabSize: 151936, hiddenSize: 896, intermediateSize: 4864,
    numLayers: 24, numHeads: 14, numKvHeads: 2, headDim: 64, rmsNormEps: 1e-6, ropeTheta: 1000000,
    ropeScaling: { type: 'default' }, maxPositionEmbeddings: 131072, tieWordEmbeddings: true, qkvBias: true,
    oProjBias: false, slidingWindow: null, dtype: 'bfloat16', bosTokenId: 151643, eosTokenIds: [151643],
  }],
];

describe('parseHfConfig: real-world configs', () => {
  for (const [name, json, expected] of EXPECTED) {
    it(`${name} (transformers v4 spelling)`, () => {
      expect(parseHfConfig(json, `${name}/config.json`)).toEqual(expected);
    });
    it(`${name} (transformers v5 spelling)`, () => {
      const v5 = toV5(json);
      expect(v5).not.toHaveProperty('rope_theta');
      expect(v5).not.toHaveProperty('torch_dtype');
      expect(parseHfConfig(v5, `${name}/config.json`)).toEqual(expected);
    });
  }

  it('reads the configs transformers 5.17 saved for the fixtures (v5 spelling, written by HF itself)', () => {
    const read = (name: string): ModelConfig => {
      const file = path.join('test/fixtures/models', name, 'config.json');
      return parseHfConfig(JSON.parse(fs.readFileSync(file, 'utf8')), file);
    };
    expect(read('llama3-gqa')).toMatchObject({
      family: 'llama', numHeads: 4, numKvHeads: 2, headDim: 16, ropeTheta: 10000, tieWordEmbeddings: false,
      ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 32 },
      dtype: 'float32', qkvBias: false, slidingWindow: null,
    });
    expect(read('qwen2-bias-tied-bf16')).toMatchObject({
      family: 'qwen2', qkvBias: true, oProjBias: false, tieWordEmbeddings: true, dtype: 'bfloat16', slidingWindow: null,
    });
    expect(read('llama-bias-linear-f16')).toMatchObject({
      family: 'llama', qkvBias: true, oProjBias: true, ropeScaling: { type: 'linear', factor: 2 }, dtype: 'float16',
    });
    expect(read('mistral-mqa')).toMatchObject({ family: 'mistral', numKvHeads: 1, headDim: 32, hiddenSize: 96, slidingWindow: null });
  });
});

describe('parseHfConfig: fields and defaults', () => {
  const base = LLAMA_2_7B;

  it('Llama attention_bias: true puts a bias on q, k, v and o', () => {
    expect(parseHfConfig({ ...base, attention_bias: true }, 'c')).toMatchObject({ qkvBias: true, oProjBias: true });
  });

  it('Qwen2 always has q/k/v bias and never o bias; Mistral ignores attention_bias as HF does', () => {
    expect(parseHfConfig({ ...QWEN2_0_5B, attention_bias: false }, 'c')).toMatchObject({ qkvBias: true, oProjBias: false });
    expect(parseHfConfig({ ...MISTRAL_7B_V01, attention_bias: true }, 'c')).toMatchObject({ qkvBias: false, oProjBias: false });
  });

  it('linear rope scaling, in both spellings (and the old `type` key)', () => {
    const linear = { type: 'linear', factor: 4 };
    expect(parseHfConfig({ ...base, rope_scaling: { type: 'linear', factor: 4.0 } }, 'c').ropeScaling).toEqual(linear);
    expect(parseHfConfig({ ...base, rope_parameters: { rope_type: 'linear', factor: 4.0, rope_theta: 20000 } }, 'c'))
      .toMatchObject({ ropeScaling: linear, ropeTheta: 20000 });
  });

  it('rope_parameters wins over rope_scaling when both are present', () => {
    const json = { ...base, rope_scaling: { rope_type: 'linear', factor: 2 }, rope_parameters: { rope_type: 'default', rope_theta: 7 } };
    expect(parseHfConfig(json, 'c')).toMatchObject({ ropeScaling: { type: 'default' }, ropeTheta: 7 });
  });

  it('fills transformers defaults for omitted fields', () => {
    const { rms_norm_eps: _e, max_position_embeddings: _m, torch_dtype: _d, num_key_value_heads: _k, ...bare } = base;
    expect(parseHfConfig(bare, 'c')).toMatchObject({ rmsNormEps: 1e-6, maxPositionEmbeddings: 2048, dtype: 'float32', numKvHeads: 32, ropeTheta: 10000 });
    const { max_position_embeddings: _q, ...qwen } = QWEN2_0_5B;
    expect(parseHfConfig(qwen, 'c').maxPositionEmbeddings).toBe(32768);
  });

  it('eos_token_id as int, list or null; bos_token_id null', () => {
    expect(parseHfConfig({ ...base, eos_token_id: [5, 6] }, 'c').eosTokenIds).toEqual([5, 6]);
    expect(parseHfConfig({ ...base, eos_token_id: null, bos_token_id: null }, 'c')).toMatchObject({ eosTokenIds: [], bosTokenId: null });
  });

  it('explicit head_dim that is not hidden/heads', () => {
    expect(parseHfConfig({ ...base, head_dim: 96 }, 'c').headDim).toBe(96);
  });

  it("accepts the 'torch.bfloat16' dtype spelling", () => {
    expect(parseHfConfig({ ...base, torch_dtype: 'torch.bfloat16' }, 'c').dtype).toBe('bfloat16');
  });

  describe('sliding window', () => {
    it('Mistral: sliding_window, null, or the HF default 4096 when absent', () => {
      expect(parseHfConfig({ ...MISTRAL_7B_V01, sliding_window: 2048 }, 'c').slidingWindow).toBe(2048);
      expect(parseHfConfig({ ...MISTRAL_7B_V01, sliding_window: null }, 'c').slidingWindow).toBeNull();
      const { sliding_window: _s, ...noKey } = MISTRAL_7B_V01;
      expect(parseHfConfig(noKey, 'c').slidingWindow).toBe(4096);
    });

    it('Qwen2: only with use_sliding_window and layers at or above max_window_layers', () => {
      const q = QWEN2_0_5B; // 24 layers, sliding_window 131072
      expect(parseHfConfig({ ...q, use_sliding_window: true, max_window_layers: 21 }, 'c').slidingWindow).toBe(131072);
      expect(parseHfConfig({ ...q, use_sliding_window: true, max_window_layers: 24 }, 'c').slidingWindow).toBeNull();
      expect(parseHfConfig({ ...q, use_sliding_window: false, max_window_layers: 0 }, 'c').slidingWindow).toBeNull();
    });

    it('Qwen2 v5 layer_types decide', () => {
      const layerTypes = Array.from({ length: 24 }, (_, i) => (i < 20 ? 'full_attention' : 'sliding_attention'));
      expect(parseHfConfig({ ...toV5(QWEN2_0_5B), layer_types: layerTypes, sliding_window: 1024 }, 'c').slidingWindow).toBe(1024);
      expect(parseHfConfig({ ...toV5(QWEN2_0_5B), layer_types: layerTypes.map(() => 'full_attention') }, 'c').slidingWindow).toBeNull();
    });

    it('Llama never slides', () => {
      expect(parseHfConfig({ ...base, sliding_window: 16 }, 'c').slidingWindow).toBeNull();
    });
  });
});

function errorOf(json: unknown): ConfigError {
  try {
    parseHfConfig(json, 'models/x/config.json');
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('parseHfConfig: errors name the field and what is supported', () => {
  it('an unsupported architecture, listing the supported ones', () => {
    const e = errorOf({ ...LLAMA_2_7B, architectures: ['GemmaForCausalLM'] });
    expect(e.message).toBe("models/x/config.json: architecture 'GemmaForCausalLM' is not supported; Kiln supports LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM");
    expect(e.code).toBe('invalid_config');
  });

  it('the architecture is named even when other fields are missing', () => {
    expect(errorOf({ architectures: ['BertModel'] }).message).toContain("architecture 'BertModel' is not supported");
    expect(errorOf({ ...LLAMA_2_7B, architectures: ['toString'] }).message).toContain("architecture 'toString' is not supported");
  });

  it('not an object; missing architectures; missing or mistyped required fields', () => {
    expect(errorOf([1, 2]).message).toBe('models/x/config.json: config.json must hold a JSON object');
    expect(errorOf({ ...LLAMA_2_7B, architectures: undefined }).message).toContain("required field 'architectures' is missing");
    const { hidden_size: _h, ...noHidden } = LLAMA_2_7B;
    expect(errorOf(noHidden).message).toContain("required field 'hidden_size' is missing");
    expect(errorOf({ ...LLAMA_2_7B, num_attention_heads: '32' }).message).toContain("field 'num_attention_heads' has an unsupported value \"32\"");
    expect(errorOf({ ...LLAMA_2_7B, eos_token_id: [2, -1] }).message).toContain("field 'eos_token_id");
  });

  for (const type of ['yarn', 'dynamic', 'longrope']) {
    it(`rope type '${type}' in both spellings`, () => {
      expect(errorOf({ ...LLAMA_2_7B, rope_scaling: { rope_type: type, factor: 4 } }).message).toBe(
        `models/x/config.json: rope_scaling.rope_type '${type}' is not supported; Kiln supports rope types default, linear, llama3`);
      expect(errorOf({ ...LLAMA_2_7B, rope_parameters: { rope_type: type, factor: 4, rope_theta: 1e4 } }).message)
        .toContain(`rope_parameters.rope_type '${type}' is not supported`);
    });
  }

  it("the old 'type' key of rope_scaling is named as such", () => {
    expect(errorOf({ ...LLAMA_2_7B, rope_scaling: { type: 'dynamic', factor: 2 } }).message).toContain("rope_scaling.type 'dynamic' is not supported");
  });

  it('llama3 rope needs all its parameters, with high_freq_factor > low_freq_factor', () => {
    const rope = (LLAMA_3_1_8B_INSTRUCT.rope_scaling as Json);
    const { low_freq_factor: _l, ...noLow } = rope;
    expect(errorOf({ ...LLAMA_3_1_8B_INSTRUCT, rope_scaling: noLow }).message).toContain("'rope_scaling.low_freq_factor' is required for rope type 'llama3'");
    expect(errorOf({ ...LLAMA_3_1_8B_INSTRUCT, rope_scaling: { ...rope, high_freq_factor: 1 } }).message).toContain("'rope_scaling.high_freq_factor' must exceed");
    expect(errorOf({ ...LLAMA_2_7B, rope_scaling: { type: 'linear' } }).message).toContain("'rope_scaling.factor' is required for rope type 'linear'");
  });

  it('per-layer-type rope_parameters', () => {
    const json = { ...LLAMA_2_7B, rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 1e4 } } };
    expect(errorOf(json).message).toContain("'rope_parameters.full_attention' (per-layer-type rope parameters) is not supported");
  });

  it('mlp_bias, a non-SiLU activation, quantization_config, unsupported dtypes', () => {
    expect(errorOf({ ...LLAMA_3_1_8B_INSTRUCT, mlp_bias: true }).message).toContain("'mlp_bias: true' (bias on the MLP projections) is not supported");
    expect(errorOf({ ...LLAMA_2_7B, hidden_act: 'gelu' }).message).toContain("hidden_act 'gelu' is not supported");
    expect(errorOf({ ...LLAMA_2_7B, quantization_config: { quant_method: 'gptq', bits: 4 } }).message).toContain("'quantization_config' (\"gptq\") is not supported");
    expect(errorOf({ ...LLAMA_2_7B, torch_dtype: 'float8_e4m3fn' }).message).toBe(
      "models/x/config.json: 'torch_dtype' \"float8_e4m3fn\" is not supported; use a checkpoint stored as float32, float16, bfloat16");
    expect(errorOf({ ...toV5(LLAMA_2_7B), dtype: 'int8' }).message).toContain("'dtype' \"int8\" is not supported");
  });

  it('head counts that do not fit', () => {
    expect(errorOf({ ...LLAMA_2_7B, num_key_value_heads: 5 }).message).toContain('num_attention_heads (32) must be a multiple of num_key_value_heads (5)');
    expect(errorOf({ ...LLAMA_2_7B, num_attention_heads: 30, num_key_value_heads: 30 }).message).toContain('hidden_size (4096) is not divisible by num_attention_heads (30)');
    expect(errorOf({ ...LLAMA_2_7B, head_dim: 63 }).message).toContain('head_dim 63 is odd');
  });

  it('sliding attention enabled without a window', () => {
    const json = { ...QWEN2_0_5B, use_sliding_window: true, max_window_layers: 0, sliding_window: null };
    expect(errorOf(json).message).toContain("sliding attention is enabled but 'sliding_window' is null");
  });
});
