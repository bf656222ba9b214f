/**
 * How a Llama-family model splits over `tpSize` ranks (Megatron-style), checked once. Q heads
 * and MLP channels divide evenly; each rank keeps the KV heads its Q heads read (a slice of
 * them, or one replicated head when there are fewer KV heads than ranks). Embedding and LM head
 * are split by vocabulary when that saves memory worth the collectives (see `chooseVocabParallel`).
 */
import { ConfigError } from '../errors/index.js';
import type { ModelConfig } from '../models/config.js';

/** 'auto' applies the size rule; 'split' / 'replicate' force a choice (tests, experiments). */
export type VocabParallelMode = 'auto' | 'split' | 'replicate';

/**
 * Embedding tables at or above this size (bytes, as stored) are split by vocabulary in 'auto'
 * mode: below it the table costs each rank little and replicating saves the embedding's
 * all_reduce and the logits' all_gather every step.
 */
export const VOCAB_SPLIT_MIN_BYTES = 64 * 1024 * 1024;

/** The shard layout, the same for every rank (rank-specific ranges come from `rankSlices`). */
export interface TpPlan {
  readonly tpSize: number;
  readonly numHeadsPerRank: number;
  readonly numKvHeadsPerRank: number;
  /** True when numKvHeads < tpSize: several ranks hold the same KV head. */
  readonly kvReplicated: boolean;
  readonly intermediatePerRank: number;
  readonly vocabParallel: boolean;
  /** Rows of the embedding / LM head each rank holds (vocabSize / tpSize when split). */
  readonly vocabPerRank: number;
}

/** One rank's ranges, in units of heads, channels and vocabulary rows. */
export interface RankSlices {
  readonly rank: number;
  readonly qHeadStart: number;
  readonly kvHeadStart: number;
  readonly channelStart: number;
  readonly vocabStart: number;
}

const BYTES: Readonly<Record<ModelConfig['dtype'], number>> = { float32: 4, float16: 2, bfloat16: 2 };

export function chooseVocabParallel(model: ModelConfig, tpSize: number, mode: VocabParallelMode): boolean {
  if (tpSize === 1 || mode === 'replicate') return false;
  const divisible = model.vocabSize % tpSize === 0;
  if (mode === 'split') {
    if (!divisible) throw new ConfigError(`--tp_size ${tpSize}: the vocabulary (${model.vocabSize}) does not divide by ${tpSize}, so embedding and lm_head cannot be split by vocabulary; replicate them or pick a tp size dividing ${model.vocabSize}`);
    return true;
  }
  return divisible && model.vocabSize * model.hiddenSize * BYTES[model.dtype] >= VOCAB_SPLIT_MIN_BYTES;
}

/** Checks the split and returns the plan; throws ConfigError saying what does not divide. */
export function createTpPlan(model: ModelConfig, tpSize: number, mode: VocabParallelMode = 'auto'): TpPlan {
  if (!Number.isInteger(tpSize) || tpSize < 1) throw new ConfigError(`--tp_size must be a positive integer, got ${tpSize}`);
  const { numHeads, numKvHeads, intermediateSize } = model;
  if (tpSize > numHeads) {
    throw new ConfigError(`--tp_size ${tpSize} is larger than the model's ${numHeads} attention heads: each rank needs at least one head; use --tp_size ≤ ${numHeads}`);
  }
  if (numHeads % tpSize !== 0) {
    throw new ConfigError(`--tp_size ${tpSize} does not divide the model's ${numHeads} attention heads; use a tp size that divides ${numHeads}`);
  }
  const kvReplicated = numKvHeads < tpSize;
  if (kvReplicated ? tpSize % numKvHeads !== 0 : numKvHeads % tpSize !== 0) {
    throw new ConfigError(`--tp_size ${tpSize} and the model's ${numKvHeads} KV heads do not split evenly (one must divide the other); use a tp size that divides ${numKvHeads} or a multiple of it that divides ${numHeads}`);
  }
  if (intermediateSize % tpSize !== 0) {
    throw new ConfigError(`--tp_size ${tpSize} does not divide the MLP's intermediate_size ${intermediateSize}; use a tp size that divides it`);
  }
  const vocabParallel = chooseVocabParallel(model, tpSize, mode);
  return {
    tpSize,
    numHeadsPerRank: numHeads / tpSize,
    numKvHeadsPerRank: kvReplicated ? 1 : numKvHeads / tpSize,
    kvReplicated,
    intermediatePerRank: intermediateSize / tpSize,
    vocabParallel,
    vocabPerRank: vocabParallel ? model.vocabSize / tpSize : model.vocabSize,
  };
}

/** Rank `rank`'s slices. Its Q heads [qHeadStart, +numHeadsPerRank) all read KV heads [kvHeadStart, +numKvHeadsPerRank). */
export function rankSlices(model: ModelConfig, plan: TpPlan, rank: number): RankSlices {
  if (!Number.isInteger(rank) || rank < 0 || rank >= plan.tpSize) throw new ConfigError(`rank ${rank} is outside 0..${plan.tpSize - 1}`);
  const qHeadStart = rank * plan.numHeadsPerRank;
  // The KV head of Q head h is floor(h / group) with group = numHeads / numKvHeads.
  const kvHeadStart = Math.floor(qHeadStart / (model.numHeads / model.numKvHeads));
  return {
    rank,
    qHeadStart,
    kvHeadStart,
    channelStart: rank * plan.intermediatePerRank,
    vocabStart: plan.vocabParallel ? rank * plan.vocabPerRank : 0,
  };
}

/** The model as one rank sees it: head, channel and vocabulary counts of its shard. */
export function rankModelConfig(model: ModelConfig, plan: TpPlan): ModelConfig {
  return {
    ...model,
    numHeads: plan.numHeadsPerRank,
    numKvHeads: plan.numKvHeadsPerRank,
    intermediateSize: plan.intermediatePerRank,
    vocabSize: plan.vocabPerRank,
  };
}

/** For the CUDA loader: a tp size needs that many visible GPUs (one rank per device). */
export function checkTpFitsDevices(tpSize: number, numDevices: number): void {
  if (tpSize > numDevices) {
    throw new ConfigError(`this engine was built with --tp_size ${tpSize} but only ${numDevices} GPU(s) are visible; run it on a machine with ${tpSize} GPUs (check CUDA_VISIBLE_DEVICES) or rebuild with --tp_size ${numDevices}`);
  }
}
