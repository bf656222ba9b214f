/**
 * Kiln's quantized representation: what `kiln build --quant …` and the HF importers produce and
 * the `quantize` builder pass consumes. A Linear weight `<base>.weight` [N, K] becomes separate
 * named weights (so every backend reads them as plain tensors):
 *   <base>.qweight       fp8:  fp8e4m3 [N, K]                 (codes, see numerics.ts)
 *                        int8: int8 [N, K]                    (symmetric, zero 0)
 *                        int4: uint8 [N, ceil(K/2)]           (nibbles: low = even column)
 *   <base>.weight_scale  fp8: float32 [1] or [N]; int8/int4: float32 [N, ceil(K/G)]
 *   <base>.input_scale   fp8 with static activation scales: float32 [1] (absent → dynamic per token)
 *   <base>.zeros         int4 only, optional: uint8 [N, ceil(K/G)] (absent → 8, symmetric)
 *   <base>.pre_scale     optional (AWQ): float32 [K], multiplies the GEMM input (x ⊙ pre_scale);
 *                        the weight was quantized as W·diag(1/pre_scale), so the product is unchanged.
 * The FP8 KV cache keeps one K and one V scale per layer on each `attention` node's attrs
 * (`kvCacheDtype: 'fp8e4m3'`, `kScale`, `vScale`): stored = fp8(x / scale), read = fp8 · scale.
 */
export const QUANT_FORMATS = ['fp8', 'int8_wo', 'int4_wo'] as const;
export type QuantFormat = (typeof QUANT_FORMATS)[number];

export const KV_CACHE_DTYPES = ['auto', 'fp8'] as const;
export type KvCacheDType = (typeof KV_CACHE_DTYPES)[number];

/** What the user asked for (validated CLI flags). */
export interface QuantOptions {
  /** null: weights stay as they are (only the KV cache is quantized, or the checkpoint already is). */
  readonly format: QuantFormat | null;
  /** fp8 weight scales: one per tensor or one per output channel (default 'tensor'). */
  readonly fp8WeightScale: 'tensor' | 'channel';
  /** fp8 activation scales: static (calibrated) or dynamic per token (default 'static'). */
  readonly fp8Activation: 'static' | 'dynamic';
  /** int8_wo/int4_wo group size along K: 128 (default) or 64. */
  readonly groupSize: number;
  /** AWQ-style activation-aware scaling for int8_wo/int4_wo. */
  readonly awq: boolean;
  /** Calibration prompts (0: none; static fp8 and AWQ need some, the fp8 KV cache then uses scale 1.0). */
  readonly calibSize: number;
  readonly kvCacheDtype: KvCacheDType;
}

export const DEFAULT_QUANT_OPTIONS: QuantOptions = {
  format: null, fp8WeightScale: 'tensor', fp8Activation: 'static', groupSize: 128, awq: false, calibSize: 16, kvCacheDtype: 'auto',
};

/** Recorded in EngineConfig.quant and in quantized Kiln checkpoints' config.json (`quant`). */
export interface QuantSummary {
  readonly format: QuantFormat | null;
  readonly groupSize?: number;
  readonly fp8WeightScale?: 'tensor' | 'channel';
  readonly fp8Activation?: 'static' | 'dynamic';
  readonly awq?: boolean;
  readonly kvCacheDtype: 'fp8e4m3' | null;
  /** Where pre-quantized weights came from (modelopt, compressed-tensors, awq, gptq), or 'kiln'. */
  readonly source: string;
  /** Per-layer fp8 KV scales shipped with an imported checkpoint (ModelOpt `k_proj.k_scale` / `v_proj.v_scale`). */
  readonly kvScales?: { readonly k: readonly number[]; readonly v: readonly number[] };
  /** Linear weights that were left unquantized (e.g. lm_head). */
  readonly excluded: readonly string[];
}

export const Q = {
  qweight: (base: string) => `${base}.qweight`,
  weightScale: (base: string) => `${base}.weight_scale`,
  inputScale: (base: string) => `${base}.input_scale`,
  zeros: (base: string) => `${base}.zeros`,
  preScale: (base: string) => `${base}.pre_scale`,
} as const;

/** `<base>` of a Linear weight name `<base>.weight`, or undefined. */
export function linearBase(weightName: string): string | undefined {
  return weightName.endsWith('.weight') ? weightName.slice(0, -'.weight'.length) : undefined;
}

/** Weights never quantized by default: embeddings and the LM head (and a tied head). */
export const DEFAULT_EXCLUDED = ['model.embed_tokens.weight', 'lm_head.weight'] as const;
