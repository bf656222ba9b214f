/**
 * The normalized configuration of a Llama-family decoder (Llama 2/3.x, Mistral, Qwen2/2.5),
 * parsed once from a Hugging Face config.json (v4 or v5 spelling) by `parseHfConfig`.
 */

export type RopeScaling =
  | { readonly type: 'default' }
  | { readonly type: 'linear'; readonly factor: number }
  | {
      readonly type: 'llama3';
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositionEmbeddings: number;
    };

export type ModelFamily = 'llama' | 'mistral' | 'qwen2';

export interface ModelConfig {
  readonly family: ModelFamily;
  /** The HF `architectures[0]`, e.g. `LlamaForCausalLM`. */
  readonly architecture: string;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling;
  readonly maxPositionEmbeddings: number;
  readonly tieWordEmbeddings: boolean;
  /** Bias on the q/k/v projections (Qwen2; Llama with `attention_bias: true`). */
  readonly qkvBias: boolean;
  /** Bias on the attention output projection o_proj (Llama with `attention_bias: true` only). */
  readonly oProjBias: boolean;
  /**
   * Sliding-window attention span in tokens (Mistral `sliding_window`, Qwen2 with
   * `use_sliding_window`), or null for full attention. Kiln attends over the full context, so the
   * builder refuses engines whose max sequence length exceeds it (where the two would differ).
   */
  readonly slidingWindow: number | null;
  /** The checkpoint's stored dtype (`torch_dtype` / `dtype`). */
  readonly dtype: 'float32' | 'float16' | 'bfloat16';
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
}
