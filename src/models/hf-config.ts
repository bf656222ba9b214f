/**
 * `parseHfConfig`: a Hugging Face config.json (transformers v4 or v5 spelling) → `ModelConfig`.
 * The one place HF field names are read; everything downstream trusts the normalized config.
 *
 * v4 spells rope as top-level `rope_theta` + `rope_scaling` and the dtype as `torch_dtype`;
 * v5 nests rope in `rope_parameters` (rope_type, rope_theta, factor, ...) and spells `dtype`.
 */
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import type { ModelConfig, ModelFamily, RopeScaling } from './config.js';

/** HF `architectures[0]` → Kiln model family. */
export const SUPPORTED_ARCHITECTURES: Readonly<Record<string, ModelFamily>> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
};

export const SUPPORTED_ROPE_TYPES = ['default', 'linear', 'llama3'] as const;
export const SUPPORTED_DTYPES = ['float32', 'float16', 'bfloat16'] as const;
/** HF `hidden_act` values meaning SiLU (ACT2FN maps both to nn.SiLU). */
const SILU_NAMES = ['silu', 'swish'];

const posInt = z.number().int().positive();
const tokenId = z.number().int().nonnegative();

const ropeSchema = z.looseObject({
  rope_type: z.string().optional(),
  type: z.string().optional(),
  rope_theta: z.number().positive().optional(),
  factor: z.number().positive().optional(),
  low_freq_factor: z.number().positive().optional(),
  high_freq_factor: z.number().positive().optional(),
  original_max_position_embeddings: posInt.optional(),
});
type HfRope = z.infer<typeof ropeSchema>;

const hfSchema = z.looseObject({
  architectures: z.array(z.string()).min(1),
  vocab_size: posInt,
  hidden_size: posInt,
  intermediate_size: posInt,
  num_hidden_layers: posInt,
  num_attention_heads: posInt,
  num_key_value_heads: posInt.nullish(),
  head_dim: posInt.nullish(),
  hidden_act: z.string().optional(),
  rms_norm_eps: z.number().positive().optional(),
  rope_theta: z.number().positive().optional(),
  rope_scaling: ropeSchema.nullish(),
  rope_parameters: ropeSchema.nullish(),
  max_position_embeddings: posInt.optional(),
  tie_word_embeddings: z.boolean().optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  torch_dtype: z.string().nullish(),
  dtype: z.string().nullish(),
  bos_token_id: tokenId.nullish(),
  eos_token_id: z.union([tokenId, z.array(tokenId)]).nullish(),
  sliding_window: posInt.nullish(),
  use_sliding_window: z.boolean().optional(),
  max_window_layers: z.number().int().nonnegative().optional(),
  layer_types: z.array(z.string()).optional(),
  quantization_config: z.unknown().optional(),
});
type HfConfig = z.infer<typeof hfSchema>;

/** transformers' per-family defaults for fields a config.json may omit. */
const FAMILY_DEFAULTS: Readonly<Record<ModelFamily, { maxPositionEmbeddings: number; slidingWindow: number | null }>> = {
  llama: { maxPositionEmbeddings: 2048, slidingWindow: null },
  mistral: { maxPositionEmbeddings: 4096 * 32, slidingWindow: 4096 },
  qwen2: { maxPositionEmbeddings: 32768, slidingWindow: 4096 },
};
const DEFAULT_RMS_NORM_EPS = 1e-6;
const DEFAULT_ROPE_THETA = 10000;
/** Qwen2Config's default `max_window_layers`. */
const QWEN2_DEFAULT_MAX_WINDOW_LAYERS = 28;

function fail(source: string, message: string): never {
  throw new ConfigError(`${source}: ${message}`);
}

function familyOf(architectures: readonly string[], source: string): ModelFamily {
  const arch = architectures[0]!;
  const family = Object.hasOwn(SUPPORTED_ARCHITECTURES, arch) ? SUPPORTED_ARCHITECTURES[arch] : undefined;
  if (!family) {
    fail(source, `architecture '${arch}' is not supported; Kiln supports ${Object.keys(SUPPORTED_ARCHITECTURES).join(', ')}`);
  }
  return family;
}

function validate(json: unknown, source: string): HfConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(source, 'config.json must hold a JSON object');
  const arch = (json as { architectures?: unknown }).architectures;
  if (Array.isArray(arch) && typeof arch[0] === 'string') familyOf(arch as string[], source);
  const parsed = hfSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.join('.');
  const value = issue.path.reduce<unknown>((o, k) => (o as Record<PropertyKey, unknown> | undefined)?.[k as PropertyKey], json);
  if (value === undefined) fail(source, `required field '${field}' is missing; is this a Hugging Face config.json of a Llama-family model?`);
  fail(source, `field '${field}' has an unsupported value ${JSON.stringify(value)} (${issue.message})`);
}

/** Where the rope settings live: v5 `rope_parameters`, else v4 `rope_scaling` (+ `rope_theta`). */
function ropeSource(cfg: HfConfig): { rope: HfRope; key: string } {
  if (cfg.rope_parameters) return { rope: cfg.rope_parameters, key: 'rope_parameters' };
  return { rope: cfg.rope_scaling ?? {}, key: 'rope_scaling' };
}

function ropeTheta(cfg: HfConfig): number {
  return cfg.rope_parameters?.rope_theta ?? cfg.rope_theta ?? cfg.rope_scaling?.rope_theta ?? DEFAULT_ROPE_THETA;
}

function ropeScaling(cfg: HfConfig, source: string): RopeScaling {
  const { rope, key } = ropeSource(cfg);
  const nested = Object.entries(rope).find(([, v]) => typeof v === 'object' && v !== null);
  if (nested) fail(source, `'${key}.${nested[0]}' (per-layer-type rope parameters) is not supported by Kiln's Llama family`);
  const typeKey = rope.rope_type !== undefined ? 'rope_type' : 'type';
  const type = rope.rope_type ?? rope.type ?? 'default';
  const need = (field: 'factor' | 'low_freq_factor' | 'high_freq_factor' | 'original_max_position_embeddings'): number => {
    const v = rope[field];
    if (v === undefined) fail(source, `'${key}.${field}' is required for rope type '${type}'`);
    return v;
  };
  switch (type) {
    case 'default':
      return { type: 'default' };
    case 'linear':
      return { type: 'linear', factor: need('factor') };
    case 'llama3': {
      const scaling = {
        type: 'llama3' as const, factor: need('factor'), lowFreqFactor: need('low_freq_factor'),
        highFreqFactor: need('high_freq_factor'), originalMaxPositionEmbeddings: need('original_max_position_embeddings'),
      };
      if (scaling.highFreqFactor <= scaling.lowFreqFactor) fail(source, `'${key}.high_freq_factor' must exceed '${key}.low_freq_factor'`);
      return scaling;
    }
    default:
      return fail(source, `${key}.${typeKey} '${type}' is not supported; Kiln supports rope types ${SUPPORTED_ROPE_TYPES.join(', ')}`);
  }
}

function dtypeOf(cfg: HfConfig, source: string): ModelConfig['dtype'] {
  const key = cfg.dtype != null ? 'dtype' : 'torch_dtype';
  const raw = cfg.dtype ?? cfg.torch_dtype ?? 'float32';
  const dtype = raw.replace(/^torch\./, '');
  if (!(SUPPORTED_DTYPES as readonly string[]).includes(dtype)) {
    fail(source, `'${key}' ${JSON.stringify(raw)} is not supported; use a checkpoint stored as ${SUPPORTED_DTYPES.join(', ')}`);
  }
  return dtype as ModelConfig['dtype'];
}

/** The attention span that applies at some layer, or null when every layer attends fully. */
function slidingWindowOf(cfg: HfConfig, family: ModelFamily, numLayers: number, source: string): number | null {
  if (family === 'llama') return null;
  const window = 'sliding_window' in cfg ? (cfg.sliding_window ?? null) : FAMILY_DEFAULTS[family].slidingWindow;
  if (family === 'mistral') return window;
  let sliding: boolean;
  if (cfg.layer_types) {
    sliding = cfg.layer_types.includes('sliding_attention');
  } else {
    const fromLayer = cfg.max_window_layers ?? QWEN2_DEFAULT_MAX_WINDOW_LAYERS;
    sliding = cfg.use_sliding_window === true && fromLayer < numLayers;
  }
  if (sliding && window === null) fail(source, "sliding attention is enabled but 'sliding_window' is null");
  return sliding ? window : null;
}

function headsOf(cfg: HfConfig, source: string): { numHeads: number; numKvHeads: number; headDim: number } {
  const numHeads = cfg.num_attention_heads;
  const numKvHeads = cfg.num_key_value_heads ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    fail(source, `num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  }
  if (cfg.head_dim == null && cfg.hidden_size % numHeads !== 0) {
    fail(source, `hidden_size (${cfg.hidden_size}) is not divisible by num_attention_heads (${numHeads}) and head_dim is not given`);
  }
  const headDim = cfg.head_dim ?? cfg.hidden_size / numHeads;
  if (headDim % 2 !== 0) fail(source, `head_dim ${headDim} is odd; rotary embeddings need an even head_dim`);
  return { numHeads, numKvHeads, headDim };
}

function checkUnsupported(cfg: HfConfig, family: ModelFamily, source: string): void {
  if (cfg.quantization_config !== undefined && cfg.quantization_config !== null) {
    const method = (cfg.quantization_config as { quant_method?: unknown }).quant_method;
    fail(source, `'quantization_config' (${JSON.stringify(method ?? 'unknown method')}) is not supported; use an unquantized float checkpoint (kiln quantizes at build time)`);
  }
  const act = cfg.hidden_act ?? 'silu';
  if (!SILU_NAMES.includes(act)) fail(source, `hidden_act '${act}' is not supported; the Llama family uses silu`);
  if (family === 'llama' && cfg.mlp_bias === true) fail(source, "'mlp_bias: true' (bias on the MLP projections) is not supported");
}

function eosIds(cfg: HfConfig): number[] {
  const eos = cfg.eos_token_id;
  if (eos === null || eos === undefined) return [];
  return Array.isArray(eos) ? [...eos] : [eos];
}

/**
 * Parses and validates an HF config.json object. `source` (a path, usually) prefixes every
 * error message. Throws `ConfigError` naming the unsupported architecture, field or value.
 */
export function parseHfConfig(json: unknown, source: string): ModelConfig {
  const cfg = validate(json, source);
  const family = familyOf(cfg.architectures, source);
  checkUnsupported(cfg, family, source);
  const heads = headsOf(cfg, source);
  const llamaBias = family === 'llama' && cfg.attention_bias === true;
  return {
    family,
    architecture: cfg.architectures[0]!,
    vocabSize: cfg.vocab_size,
    hiddenSize: cfg.hidden_size,
    intermediateSize: cfg.intermediate_size,
    numLayers: cfg.num_hidden_layers,
    ...heads,
    rmsNormEps: cfg.rms_norm_eps ?? DEFAULT_RMS_NORM_EPS,
    ropeTheta: ropeTheta(cfg),
    ropeScaling: ropeScaling(cfg, source),
    maxPositionEmbeddings: cfg.max_position_embeddings ?? FAMILY_DEFAULTS[family].maxPositionEmbeddings,
    tieWordEmbeddings: cfg.tie_word_embeddings ?? false,
    qkvBias: family === 'qwen2' || llamaBias,
    oProjBias: llamaBias,
    slidingWindow: slidingWindowOf(cfg, family, cfg.num_hidden_layers, source),
    dtype: dtypeOf(cfg, source),
    bosTokenId: cfg.bos_token_id ?? null,
    eosTokenIds: eosIds(cfg),
  };
}
