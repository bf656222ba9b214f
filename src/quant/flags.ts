/** Validation of the quantization flags of `kiln build` (errors name the flag). */
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import { KV_CACHE_DTYPES, QUANT_FORMATS, type QuantOptions } from './types.js';

export interface QuantFlags {
  quant?: string;
  group_size?: string | number;
  awq?: boolean;
  calib_size?: string | number;
  kv_cache_dtype?: string;
  fp8_weight_scale?: string;
  fp8_activation?: string;
}

const schema = z.object({
  quant: z.enum(QUANT_FORMATS).optional(),
  group_size: z.coerce.number().refine((v) => v === 64 || v === 128, 'must be 64 or 128').optional(),
  awq: z.boolean().optional(),
  calib_size: z.coerce.number().int().min(0).max(4096).optional(),
  kv_cache_dtype: z.enum(KV_CACHE_DTYPES).optional(),
  fp8_weight_scale: z.enum(['tensor', 'channel']).optional(),
  fp8_activation: z.enum(['static', 'dynamic']).optional(),
});

/** Flags → QuantOptions (only the given ones); throws ConfigError naming the flag. */
export function parseQuantFlags(flags: QuantFlags): Partial<QuantOptions> {
  const r = schema.safeParse(flags);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const key = String(issue.path[0]);
    throw new ConfigError(`--${key} ${JSON.stringify((flags as Record<string, unknown>)[key])}: ${issue.message}`);
  }
  const f = r.data;
  const o: { -readonly [K in keyof QuantOptions]?: QuantOptions[K] } = {};
  if (f.quant !== undefined) o.format = f.quant;
  if (f.group_size !== undefined) o.groupSize = f.group_size;
  if (f.awq !== undefined) o.awq = f.awq;
  if (f.calib_size !== undefined) o.calibSize = f.calib_size;
  if (f.kv_cache_dtype !== undefined) o.kvCacheDtype = f.kv_cache_dtype;
  if (f.fp8_weight_scale !== undefined) o.fp8WeightScale = f.fp8_weight_scale;
  if (f.fp8_activation !== undefined) o.fp8Activation = f.fp8_activation;
  return o;
}
