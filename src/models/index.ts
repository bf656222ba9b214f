/** Model definitions: HF config parsing, expected weights, and the family → define-function registry. */
import { ConfigError } from '../errors/index.js';
import type { Network } from '../graph/network.js';
import type { Tensor } from '../graph/tensor.js';
import type { ModelConfig, ModelFamily } from './config.js';
import { defineLlama, type DefineLlamaOptions } from './llama.js';

export type { ModelConfig, ModelFamily, RopeScaling } from './config.js';
export { parseHfConfig, SUPPORTED_ARCHITECTURES, SUPPORTED_DTYPES, SUPPORTED_ROPE_TYPES } from './hf-config.js';
export { expectedWeights, layerWeightNames, EMBED_TOKENS, FINAL_NORM, LM_HEAD, type WeightSpec } from './weights.js';
export { defineLlama, LLM_INPUTS, LLM_OUTPUT_LOGITS, type DefineLlamaOptions } from './llama.js';

/** Writes a model of one family into a network; returns the `logits` output tensor. */
export type DefineModel = (network: Network, config: ModelConfig, options?: DefineLlamaOptions) => Tensor;

/** Family → define function. Mistral and Qwen2 are Llama-shaped; their differences live in the config. */
export const MODEL_REGISTRY: Readonly<Record<ModelFamily, DefineModel>> = {
  llama: defineLlama,
  mistral: defineLlama,
  qwen2: defineLlama,
};

/** Writes `config`'s model into `network` via the registry. Throws ConfigError for an unknown family. */
export function defineModel(network: Network, config: ModelConfig, options?: DefineLlamaOptions): Tensor {
  const define = (MODEL_REGISTRY as Readonly<Record<string, DefineModel | undefined>>)[config.family];
  if (!define) {
    throw new ConfigError(`model family '${config.family}' has no definition; known: ${Object.keys(MODEL_REGISTRY).join(', ')}`);
  }
  return define(network, config, options);
}
