/**
 * The Llama-family decoder (Llama 2/3.x, Mistral, Qwen2/2.5) written with the functional API.
 * The model knows nothing of generation: one call of the graph is one step over a flattened
 * batch of tokens, attention reads and writes the paged KV cache, and only the rows named by
 * `logits_indices` reach the LM head.
 *
 * Written in the plain shapes the builder's passes look for: residual `add` feeding `rmsnorm`
 * (fuse-add-rmsnorm), q/k/v Linear matmuls on one normed input with optional bias adds
 * (merge-qkv), `mul(silu(gate), up)` (merge-gate-up), matmul + bias (fuse-matmul-epilogue).
 */
import {
  add, attention, cast, embedding, gatherRows, matmul, mul, rmsnorm, rope, silu,
} from '../graph/functional.js';
import type { Network } from '../graph/network.js';
import type { Tensor } from '../graph/tensor.js';
import type { DType } from '../graph/types.js';
import type { ModelConfig } from './config.js';
import { EMBED_TOKENS, expectedWeights, FINAL_NORM, LM_HEAD, layerWeightNames } from './weights.js';

/** Fixed graph I/O names of LLM engines (the runtime binds them by name). */
export const LLM_INPUTS = { inputIds: 'input_ids', positions: 'positions', logitsIndices: 'logits_indices' } as const;
export const LLM_OUTPUT_LOGITS = 'logits';

export interface DefineLlamaOptions {
  /**
   * Dtype of the residual stream and activations (default float32, what the CPU backend
   * computes in). Weights keep the checkpoint's dtype (`config.dtype`); mixed float ops
   * compute in float32.
   */
  readonly activationDtype?: DType;
}

interface LlamaInputs {
  readonly ids: Tensor;
  readonly positions: Tensor;
  readonly logitsIndices: Tensor;
}

type Weights = (name: string) => Tensor;

/** Declares every expected weight (HF names, `config.dtype`); returns a lookup by name. */
function declareWeights(network: Network, config: ModelConfig): Weights {
  const byName = new Map<string, Tensor>();
  for (const spec of expectedWeights(config)) byName.set(spec.name, network.addWeight(spec.name, spec.shape, config.dtype));
  return (name) => {
    const t = byName.get(name);
    if (!t) throw new Error(`defineLlama: weight ${name} was not declared (expectedWeights and defineLlama disagree)`);
    return t;
  };
}

/** x · Wᵀ (+ b): an HF Linear. */
function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const y = matmul(x, weight, { transposeB: true });
  return bias ? add(y, bias) : y;
}

function selfAttention(x: Tensor, positions: Tensor, w: Weights, config: ModelConfig, layer: number): Tensor {
  const n = layerWeightNames(layer);
  const { numHeads, numKvHeads, headDim } = config;
  const bias = (name: string): Tensor | null => (config.qkvBias ? w(name) : null);
  const q = linear(x, w(n.q), bias(n.qBias));
  const k = linear(x, w(n.k), bias(n.kBias));
  const v = linear(x, w(n.v), bias(n.vBias));
  const ropeOptions = { headDim, theta: config.ropeTheta, scaling: config.ropeScaling };
  const qr = rope(q, positions, { ...ropeOptions, numHeads });
  const kr = rope(k, positions, { ...ropeOptions, numHeads: numKvHeads });
  const out = attention(qr, kr, v, { numHeads, numKvHeads, headDim, layer });
  return linear(out, w(n.o), config.oProjBias ? w(n.oBias) : null);
}

/** SwiGLU: down(silu(gate(x)) · up(x)). */
function mlp(x: Tensor, w: Weights, layer: number): Tensor {
  const n = layerWeightNames(layer);
  const gate = linear(x, w(n.gate), null);
  const up = linear(x, w(n.up), null);
  return linear(mul(silu(gate), up), w(n.down), null);
}

/** One pre-norm decoder layer; returns the new residual stream. */
function decoderLayer(residual: Tensor, inputs: LlamaInputs, w: Weights, config: ModelConfig, layer: number): Tensor {
  const n = layerWeightNames(layer);
  const eps = config.rmsNormEps;
  const attnOut = selfAttention(rmsnorm(residual, w(n.inputNorm), eps), inputs.positions, w, config, layer);
  const afterAttn = add(residual, attnOut);
  const mlpOut = mlp(rmsnorm(afterAttn, w(n.postAttentionNorm), eps), w, layer);
  return add(afterAttn, mlpOut);
}

/**
 * Writes the model into `network`: inputs `input_ids` int32 [num_tokens], `positions` int32
 * [num_tokens], `logits_indices` int32 [num_logits]; output `logits` float32 [num_logits, vocab].
 * Returns the logits tensor.
 */
export function defineLlama(network: Network, config: ModelConfig, options: DefineLlamaOptions = {}): Tensor {
  const act = options.activationDtype ?? 'float32';
  const inputs: LlamaInputs = {
    ids: network.addInput(LLM_INPUTS.inputIds, ['num_tokens'], 'int32'),
    positions: network.addInput(LLM_INPUTS.positions, ['num_tokens'], 'int32'),
    logitsIndices: network.addInput(LLM_INPUTS.logitsIndices, ['num_logits'], 'int32'),
  };
  const w = declareWeights(network, config);
  const table = w(EMBED_TOKENS);
  const embedded = embedding(inputs.ids, table);
  let residual = embedded.dtype === act ? embedded : cast(embedded, act);
  for (let layer = 0; layer < config.numLayers; layer++) residual = decoderLayer(residual, inputs, w, config, layer);
  const normed = rmsnorm(residual, w(FINAL_NORM), config.rmsNormEps);
  const rows = gatherRows(normed, inputs.logitsIndices);
  const head = config.tieWordEmbeddings ? table : w(LM_HEAD);
  const projected = matmul(rows, head, { transposeB: true });
  const logits = projected.dtype === 'float32' ? projected : cast(projected, 'float32');
  network.markOutput(LLM_OUTPUT_LOGITS, logits);
  return logits;
}
