/**
 * One rank's weights, sliced on demand from the full checkpoint (nothing is copied until the
 * engine writer asks for a weight). Column-parallel weights (q/k/v, gate/up: HF [out, in]) keep
 * a block of rows, row-parallel ones (o_proj, down_proj) a block of columns; their biases follow
 * the output rows (q/k/v) or stay whole (o_proj's bias is added once, after the all_reduce).
 */
import type { HostTensor, TypedData } from '../backends/types.js';
import type { WeightStore } from '../engine/types.js';
import { ConfigError } from '../errors/index.js';
import type { ModelConfig } from '../models/config.js';
import { EMBED_TOKENS, LM_HEAD, layerWeightNames } from '../models/weights.js';
import type { RankSlices, TpPlan } from './plan.js';

/** How a weight is cut: rows [start, start+count) or columns [start, start+count) of a 2-D [rows, cols]. */
export type ShardRule =
  | { readonly kind: 'rows'; readonly start: number; readonly count: number }
  | { readonly kind: 'cols'; readonly start: number; readonly count: number };

/** The rule of every sharded weight of a rank; weights not listed are replicated. */
export function shardRules(model: ModelConfig, plan: TpPlan, slices: RankSlices): Map<string, ShardRule> {
  const hd = model.headDim;
  const q: ShardRule = { kind: 'rows', start: slices.qHeadStart * hd, count: plan.numHeadsPerRank * hd };
  const kv: ShardRule = { kind: 'rows', start: slices.kvHeadStart * hd, count: plan.numKvHeadsPerRank * hd };
  const ch: ShardRule = { kind: 'rows', start: slices.channelStart, count: plan.intermediatePerRank };
  const rules = new Map<string, ShardRule>();
  for (let i = 0; i < model.numLayers; i++) {
    const n = layerWeightNames(i);
    rules.set(n.q, q).set(n.qBias, q).set(n.k, kv).set(n.kBias, kv).set(n.v, kv).set(n.vBias, kv);
    rules.set(n.o, { kind: 'cols', start: q.start, count: q.count });
    rules.set(n.gate, ch).set(n.up, ch);
    rules.set(n.down, { kind: 'cols', start: ch.start, count: ch.count });
  }
  if (plan.vocabParallel) {
    const vocab: ShardRule = { kind: 'rows', start: slices.vocabStart, count: plan.vocabPerRank };
    rules.set(EMBED_TOKENS, vocab).set(LM_HEAD, vocab);
  }
  return rules;
}

function like(data: TypedData, length: number): TypedData {
  return new (data.constructor as new (n: number) => TypedData)(length);
}

/** Cuts `t` by `rule` (a copy in the same storage dtype). 1-D tensors (biases) use 'rows'. */
export function sliceWeight(name: string, t: HostTensor, rule: ShardRule): HostTensor {
  const rows = t.shape[0]!;
  const cols = t.shape.length === 1 ? 1 : t.shape[1]!;
  const limit = rule.kind === 'rows' ? rows : cols;
  if (t.shape.length > 2 || (rule.kind === 'cols' && t.shape.length !== 2) || rule.start + rule.count > limit) {
    throw new ConfigError(`cannot shard '${name}' [${t.shape.join(', ')}] by ${rule.kind} ${rule.start}..${rule.start + rule.count}; the checkpoint does not match its config`);
  }
  if (rule.kind === 'rows') {
    const data = t.data.slice(rule.start * cols, (rule.start + rule.count) * cols);
    return { dtype: t.dtype, shape: t.shape.length === 1 ? [rule.count] : [rule.count, cols], data };
  }
  const out = like(t.data, rows * rule.count);
  for (let r = 0; r < rows; r++) {
    (out as Uint8Array).set((t.data as Uint8Array).subarray(r * cols + rule.start, r * cols + rule.start + rule.count), r * rule.count);
  }
  return { dtype: t.dtype, shape: [rows, rule.count], data: out };
}

/** `base` as rank `slices.rank` sees it. */
export function createShardedWeightStore(base: WeightStore, rules: ReadonlyMap<string, ShardRule>): WeightStore {
  return {
    names: () => base.names(),
    has: (name) => base.has(name),
    get: (name) => {
      const rule = rules.get(name);
      return rule ? sliceWeight(name, base.get(name), rule) : base.get(name);
    },
  };
}
