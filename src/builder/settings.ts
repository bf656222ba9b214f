/** Build settings: defaults, and validation at the edge with errors that name the CLI flag. */
import { z } from 'zod';
import type { BuildSettings } from '../engine/types.js';
import type { GraphDef } from '../graph/types.js';
import type { ModelConfig } from '../models/config.js';
import { ConfigError } from '../errors/index.js';

export const DEFAULT_BUILD_SETTINGS: Omit<BuildSettings, 'dtype'> = {
  maxBatchSize: 8,
  maxInputLen: 1024,
  maxOutputLen: 1024,
  maxNumTokens: 2048,
};

/** The CLI flag of each setting, for error messages. */
export const SETTING_FLAGS: Readonly<Record<keyof BuildSettings, string>> = {
  maxBatchSize: '--max_batch_size',
  maxInputLen: '--max_input_len',
  maxOutputLen: '--max_output_len',
  maxNumTokens: '--max_num_tokens',
  dtype: '--dtype',
};

const positiveInt = z.number().int().positive();
const schema = z.object({
  maxBatchSize: positiveInt,
  maxInputLen: positiveInt,
  maxOutputLen: positiveInt,
  maxNumTokens: positiveInt,
  dtype: z.enum(['float32', 'float16', 'bfloat16']),
}).strict();

type ComputeDType = BuildSettings['dtype'];

/** The model's dtype, else the one float dtype all graph weights share, else float32. */
function defaultDType(graph: GraphDef, model: ModelConfig | undefined): ComputeDType {
  if (model) return model.dtype;
  const dtypes = new Set(graph.tensors.filter((t) => t.kind === 'weight').map((t) => t.dtype));
  const [only] = dtypes;
  return dtypes.size === 1 && (only === 'float16' || only === 'bfloat16' || only === 'float32') ? only : 'float32';
}

/** Fills defaults and validates; throws ConfigError naming the flag. */
export function resolveBuildSettings(
  partial: Partial<BuildSettings> | undefined, graph: GraphDef, model: ModelConfig | undefined,
): BuildSettings {
  const merged = { ...DEFAULT_BUILD_SETTINGS, dtype: defaultDType(graph, model), ...stripUndefined(partial ?? {}) };
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path[0];
    if (issue.code === 'unrecognized_keys') {
      throw new ConfigError(`unknown build setting(s) ${issue.keys.join(', ')}; known: ${Object.keys(SETTING_FLAGS).join(', ')}`);
    }
    const flag = typeof key === 'string' && key in SETTING_FLAGS ? SETTING_FLAGS[key as keyof BuildSettings] : String(key);
    const value = typeof key === 'string' ? (merged as Record<string, unknown>)[key] : undefined;
    const want = key === 'dtype' ? 'one of float32, float16, bfloat16' : 'a positive integer';
    throw new ConfigError(`${flag} must be ${want}, got ${JSON.stringify(value)}`);
  }
  const settings = parsed.data;
  if (model && settings.maxInputLen + settings.maxOutputLen > model.maxPositionEmbeddings) {
    throw new ConfigError(`--max_input_len (${settings.maxInputLen}) + --max_output_len (${settings.maxOutputLen}) = ${settings.maxInputLen + settings.maxOutputLen} exceeds the model's max_position_embeddings (${model.maxPositionEmbeddings}); lower them`);
  }
  return settings;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
