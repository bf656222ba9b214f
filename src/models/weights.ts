/**
 * The tensors a Llama-family checkpoint must hold, by Hugging Face name and shape. The converter
 * checks a checkpoint against this list; `defineLlama` declares exactly these weights.
 */
import type { ModelConfig } from './config.js';

export interface WeightSpec {
  /** HF tensor name, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  readonly name: string;
  /** Elements per dim; Linear weights are [outFeatures, inFeatures] (the HF layout). */
  readonly shape: number[];
}

/** HF names of layer `i`'s tensors (the same strings `expectedWeights` lists). */
export function layerWeightNames(i: number) {
  const p = `model.layers.${i}`;
  return {
    inputNorm: `${p}.input_layernorm.weight`,
    postAttentionNorm: `${p}.post_attention_layernorm.weight`,
    q: `${p}.self_attn.q_proj.weight`,
    k: `${p}.self_attn.k_proj.weight`,
    v: `${p}.self_attn.v_proj.weight`,
    o: `${p}.self_attn.o_proj.weight`,
    qBias: `${p}.self_attn.q_proj.bias`,
    kBias: `${p}.self_attn.k_proj.bias`,
    vBias: `${p}.self_attn.v_proj.bias`,
    oBias: `${p}.self_attn.o_proj.bias`,
    gate: `${p}.mlp.gate_proj.weight`,
    up: `${p}.mlp.up_proj.weight`,
    down: `${p}.mlp.down_proj.weight`,
  } as const;
}

export const EMBED_TOKENS = 'model.embed_tokens.weight';
export const FINAL_NORM = 'model.norm.weight';
export const LM_HEAD = 'lm_head.weight';

function layerWeights(config: ModelConfig, i: number): WeightSpec[] {
  const n = layerWeightNames(i);
  const h = config.hiddenSize;
  const qOut = config.numHeads * config.headDim;
  const kvOut = config.numKvHeads * config.headDim;
  const specs: WeightSpec[] = [
    { name: n.inputNorm, shape: [h] },
    { name: n.q, shape: [qOut, h] },
    { name: n.k, shape: [kvOut, h] },
    { name: n.v, shape: [kvOut, h] },
  ];
  if (config.qkvBias) specs.push({ name: n.qBias, shape: [qOut] }, { name: n.kBias, shape: [kvOut] }, { name: n.vBias, shape: [kvOut] });
  specs.push({ name: n.o, shape: [h, qOut] });
  if (config.oProjBias) specs.push({ name: n.oBias, shape: [h] });
  specs.push(
    { name: n.postAttentionNorm, shape: [h] },
    { name: n.gate, shape: [config.intermediateSize, h] },
    { name: n.up, shape: [config.intermediateSize, h] },
    { name: n.down, shape: [h, config.intermediateSize] },
  );
  return specs;
}

/** Every tensor the model reads, in model order; `lm_head.weight` only when embeddings are untied. */
export function expectedWeights(config: ModelConfig): WeightSpec[] {
  const specs: WeightSpec[] = [{ name: EMBED_TOKENS, shape: [config.vocabSize, config.hiddenSize] }];
  for (let i = 0; i < config.numLayers; i++) specs.push(...layerWeights(config, i));
  specs.push({ name: FINAL_NORM, shape: [config.hiddenSize] });
  if (!config.tieWordEmbeddings) specs.push({ name: LM_HEAD, shape: [config.vocabSize, config.hiddenSize] });
  return specs;
}
