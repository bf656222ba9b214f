/**
 * Bytes per component of a model's weights, before and after quantization, for the build log:
 * embeddings, attention, MLP, lm_head, other (norms), and KV cache bytes per token.
 */
import { bytesPerElement } from '../graph/dtype.js';
import type { DType, GraphDef } from '../graph/types.js';
import type { ModelConfig } from '../models/config.js';

export const COMPONENTS = ['embeddings', 'attention', 'mlp', 'lm_head', 'other'] as const;
export type Component = (typeof COMPONENTS)[number];

export function componentOf(weightName: string): Component {
  if (weightName.startsWith('model.embed_tokens.')) return 'embeddings';
  if (weightName.startsWith('lm_head.')) return 'lm_head';
  if (weightName.includes('.self_attn.')) return 'attention';
  if (weightName.includes('.mlp.')) return 'mlp';
  return 'other';
}

/** Weight bytes of `graph` per component (from the declared shapes and dtypes). */
export function weightBytesByComponent(graph: GraphDef): Record<Component, number> {
  const out = Object.fromEntries(COMPONENTS.map((c) => [c, 0])) as Record<Component, number>;
  for (const t of graph.tensors) {
    if (t.kind !== 'weight' || t.name === undefined) continue;
    const n = t.shape.reduce<number>((a, d) => a * (d as number), 1);
    out[componentOf(t.name)] += n * bytesPerElement(t.dtype);
  }
  return out;
}

/** KV cache bytes one token takes in every layer, K and V. */
export function kvBytesPerToken(model: ModelConfig, dtype: DType): number {
  return 2 * model.numLayers * model.numKvHeads * model.headDim * bytesPerElement(dtype);
}

const fmt = (b: number): string => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`);

/** One log line per component: `name: before → after (pct%)`. */
export function formatSizeReport(before: GraphDef, after: GraphDef, model: ModelConfig, kvBefore: DType, kvAfter: DType): string[] {
  const b = weightBytesByComponent(before), a = weightBytesByComponent(after);
  const line = (name: string, x: number, y: number): string => `  ${name}: ${fmt(x)} → ${fmt(y)} (${x > 0 ? ((100 * y) / x).toFixed(1) : '-'}%)`;
  const total = (r: Record<Component, number>): number => COMPONENTS.reduce((s, c) => s + r[c], 0);
  return [
    'quantization: bytes per component, before → after',
    ...COMPONENTS.map((c) => line(c, b[c], a[c])),
    line('total weights', total(b), total(a)),
    line('KV cache per token', kvBytesPerToken(model, kvBefore), kvBytesPerToken(model, kvAfter)),
  ];
}
