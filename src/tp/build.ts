/**
 * `kiln build --tp_size N`: the checkpoint built N times, once per rank, each with its shard's
 * graph and weights, into one engine directory (config.json + rank0.engine … rank{N-1}.engine,
 * written atomically together). tp_size 1 is the ordinary build.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildFromCheckpoint, TOKENIZER_FILES, type BuildFromCheckpointOptions, type BuildResult } from '../builder/build-command.js';
import { Builder } from '../builder/builder.js';
import { placeholderWeightStore, readModelConfigOnly } from '../builder/dummy-build.js';
import { readKilnCheckpoint } from '../checkpoint/index.js';
import type { Engine, EngineConfig } from '../engine/types.js';
import { saveRankEngines } from '../engine/writer.js';
import { BackendError, ConfigError } from '../errors/index.js';
import { createTpPlan, rankModelConfig, rankSlices, type TpPlan, type VocabParallelMode } from './plan.js';
import { defineRankGraph } from './shard-graph.js';
import { createShardedWeightStore, shardRules } from './shard-weights.js';

export interface TensorParallelBuildOptions extends BuildFromCheckpointOptions {
  /** Ranks to shard over (default 1: an unsharded engine). */
  readonly tpSize?: number;
  /** Embedding / LM head vocabulary split (default 'auto': split when the table is ≥ 64 MiB). */
  readonly vocabParallel?: VocabParallelMode;
}

/** The shard layout recorded in config.json of a tp > 1 engine (rank files record their rank). */
export type TpShardConfig = TpPlan;

/**
 * The CUDA backend has no masked (vocab_embedding) kernel yet, so CUDA rank engines keep the
 * vocabulary whole on every rank ('auto' → 'replicate'); asking for 'split' there is an error.
 */
export function vocabModeFor(target: string, mode: VocabParallelMode): VocabParallelMode {
  if (target !== 'cuda') return mode;
  if (mode === 'split') throw new ConfigError('--target cuda cannot split the embedding by vocabulary yet (no masked-embedding kernel); build with the default vocabulary mode (replicated) or --target cpu');
  return 'replicate';
}

/** Builds `checkpointDir` into `outputDir` sharded over `tpSize` ranks. */
export async function buildTensorParallelFromCheckpoint(options: TensorParallelBuildOptions): Promise<BuildResult> {
  const tpSize = options.tpSize ?? 1;
  if (tpSize === 1) return buildFromCheckpoint(options);
  if (options.target !== 'cpu' && options.target !== 'cuda') {
    throw new BackendError(`--tp_size ${tpSize} with --target ${options.target}: sharded engines build for --target cpu or cuda`);
  }
  if (options.quant && Object.keys(options.quant).length > 0) {
    throw new ConfigError(`--tp_size ${tpSize} cannot be combined with quantization flags yet; build the sharded engine unquantized, or quantize with --tp_size 1`);
  }
  const log = options.onLog ?? (() => undefined);
  if (options.target === 'cuda') {
    const { registerCudaTarget } = await import('../backends/cuda/register-target.js');
    registerCudaTarget(options.timingCache ? { timingCachePath: options.timingCache } : {});
  }
  const dummy = options.loadFormat === 'dummy';
  const checkpoint = dummy ? { model: readModelConfigOnly(options.checkpointDir), weights: undefined } : readKilnCheckpoint(options.checkpointDir);
  try {
    const model = checkpoint.model;
    const plan = createTpPlan(model, tpSize, vocabModeFor(options.target, options.vocabParallel ?? 'auto'));
    log(`tp ${tpSize}: ${plan.numHeadsPerRank} q heads, ${plan.numKvHeadsPerRank} kv head(s)${plan.kvReplicated ? ' (replicated)' : ''}, ${plan.intermediatePerRank} mlp channels per rank; vocabulary ${plan.vocabParallel ? `split (${plan.vocabPerRank} rows per rank)` : 'replicated'}`);
    const engines: Engine[] = [];
    for (let rank = 0; rank < tpSize; rank++) {
      const slices = rankSlices(model, plan, rank);
      const graph = defineRankGraph(model, plan, slices);
      const engine = new Builder().buildEngine(graph, {
        target: options.target,
        ...(options.settings ? { settings: options.settings } : {}),
        weights: checkpoint.weights ? createShardedWeightStore(checkpoint.weights, shardRules(model, plan, slices)) : placeholderWeightStore(graph),
        // The CUDA target builder compiles kernels and tunes GEMMs for config.model: the shard's shapes.
        model: options.target === 'cuda' ? rankModelConfig(model, plan) : model,
        onLog: rank === 0 ? (line) => log(`rank 0: ${line}`) : undefined,
      });
      // Dummy weights are seeded per rank: a shard of random weights, not a slice of tp=1's (timing only).
      const config: EngineConfig & { tp: TpShardConfig } = {
        ...engine.config, model, tpSize, tp: plan, ...(dummy ? { dummyWeights: { seed: (options.dummySeed ?? 0) + rank } } : {}),
      };
      engines.push({ ...engine, config });
    }
    const files = TOKENIZER_FILES
      .map((name) => ({ name, from: path.join(options.checkpointDir, name) }))
      .filter((f) => fs.existsSync(f.from));
    saveRankEngines(engines, options.outputDir, { files });
    const engineDir = path.resolve(options.outputDir);
    log(`wrote ${engineDir}: ${tpSize} rank engines, ${engines[0]!.graph.nodes.length} nodes each`);
    return { engineDir, config: engines[0]!.config };
  } finally {
    checkpoint.weights?.dispose();
  }
}
