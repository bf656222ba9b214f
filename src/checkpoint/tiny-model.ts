/**
 * The embedded default model: `writeTinyModel(dir)` writes, offline and deterministically, a small
 * Hugging Face-format Llama 3 model directory (config.json, model.safetensors with seeded random
 * weights, generation_config.json, a byte-level BPE tokenizer and a Llama 3 chat template).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fromFloat32 } from '../graph/dtype.js';
import { writeSafetensors, type WriteEntry } from './safetensors/writer.js';
import { createTinyTokenizer } from './tiny-tokenizer.js';
import { mulberry32 } from '../util/prng.js';

export interface TinyModelOptions {
  /** PRNG seed of the weights (default 0). */
  readonly seed?: number;
  /** Stored dtype of model.safetensors (default bfloat16, as Llama 3 ships). */
  readonly dtype?: 'float32' | 'float16' | 'bfloat16';
  /** Overrides of the default shape (benchmarks use a wider model). */
  readonly shape?: Partial<TinyShape>;
}

export interface TinyShape {
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly intermediateSize: number;
}

/** Shape of the tiny model (vocab comes from the tokenizer). */
export const TINY_SHAPE: TinyShape = {
  hiddenSize: 128, numLayers: 4, numHeads: 4, numKvHeads: 2, headDim: 32, intermediateSize: 256,
};

/** Std of the random linear/embedding weights: large enough that logits are not flat. */
const WEIGHT_STD = 0.08;

/** FNV-1a of the tensor name mixed with the seed, so each tensor's values do not depend on write order. */
function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** `mean + std · N(0, 1)` samples (Box–Muller). */
export function seededNormal(seed: number, name: string, count: number, mean: number, std: number): Float32Array {
  const rand = mulberry32(tensorSeed(seed, name));
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = 1 - rand();
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = mean + r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = mean + r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

function tinyWeightShapes(vocab: number, shape: TinyShape): { name: string; shape: number[]; norm: boolean }[] {
  const { hiddenSize: h, numLayers, numHeads, numKvHeads, headDim, intermediateSize: inter } = shape;
  const list: { name: string; shape: number[]; norm: boolean }[] = [{ name: 'model.embed_tokens.weight', shape: [vocab, h], norm: false }];
  for (let l = 0; l < numLayers; l++) {
    const p = `model.layers.${l}`;
    list.push(
      { name: `${p}.input_layernorm.weight`, shape: [h], norm: true },
      { name: `${p}.self_attn.q_proj.weight`, shape: [numHeads * headDim, h], norm: false },
      { name: `${p}.self_attn.k_proj.weight`, shape: [numKvHeads * headDim, h], norm: false },
      { name: `${p}.self_attn.v_proj.weight`, shape: [numKvHeads * headDim, h], norm: false },
      { name: `${p}.self_attn.o_proj.weight`, shape: [h, numHeads * headDim], norm: false },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h], norm: true },
      { name: `${p}.mlp.gate_proj.weight`, shape: [inter, h], norm: false },
      { name: `${p}.mlp.up_proj.weight`, shape: [inter, h], norm: false },
      { name: `${p}.mlp.down_proj.weight`, shape: [h, inter], norm: false },
    );
  }
  list.push({ name: 'model.norm.weight', shape: [h], norm: true }, { name: 'lm_head.weight', shape: [vocab, h], norm: false });
  return list;
}

function hfConfig(vocab: number, bos: number, eos: number[], dtype: string, s: TinyShape): object {
  return {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', attention_bias: false, attention_dropout: 0.0,
    bos_token_id: bos, eos_token_id: eos, head_dim: s.headDim, hidden_act: 'silu', hidden_size: s.hiddenSize,
    initializer_range: 0.02, intermediate_size: s.intermediateSize, max_position_embeddings: 4096, mlp_bias: false,
    num_attention_heads: s.numHeads, num_hidden_layers: s.numLayers, num_key_value_heads: s.numKvHeads,
    pretraining_tp: 1, rms_norm_eps: 1e-5,
    rope_scaling: { factor: 8.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 512, rope_type: 'llama3' },
    rope_theta: 10000.0, tie_word_embeddings: false, torch_dtype: dtype, transformers_version: '4.46.0',
    use_cache: true, vocab_size: vocab,
  };
}

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}

/** Writes the tiny model into `dir` (created if needed). Same seed and dtype → identical bytes. */
export async function writeTinyModel(dir: string, options: TinyModelOptions = {}): Promise<void> {
  const seed = options.seed ?? 0;
  const dtype = options.dtype ?? 'bfloat16';
  const shape = { ...TINY_SHAPE, ...options.shape };
  const tok = createTinyTokenizer();
  const bos = tok.specialIds['<|begin_of_text|>'];
  const eos = [tok.specialIds['<|end_of_text|>'], tok.specialIds['<|eot_id|>']];
  fs.mkdirSync(dir, { recursive: true });
  writeJson(path.join(dir, 'config.json'), hfConfig(tok.vocabSize, bos, eos, dtype, shape));
  writeJson(path.join(dir, 'generation_config.json'), { bos_token_id: bos, eos_token_id: eos, transformers_version: '4.46.0' });
  writeJson(path.join(dir, 'tokenizer.json'), tok.tokenizerJson);
  writeJson(path.join(dir, 'tokenizer_config.json'), tok.tokenizerConfig);
  writeJson(path.join(dir, 'special_tokens_map.json'), { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>' });
  const entries: WriteEntry[] = tinyWeightShapes(tok.vocabSize, shape).map(({ name, shape, norm }) => ({
    name, dtype, shape,
    data: () => fromFloat32(dtype, seededNormal(seed, name, shape.reduce((a, b) => a * b, 1), norm ? 1 : 0, norm ? 0.05 : WEIGHT_STD)) as Float32Array | Uint16Array,
  }));
  await writeSafetensors(path.join(dir, 'model.safetensors'), entries, { metadata: { format: 'pt' } });
}
