/**
 * `kiln build --tp_size N`: the checkpoint built N times, once per rank, each with its shard's
 * graph and weights, into one engine directory (config.json + rank0.engine … rank{N-1}.engine,
 * written atomically together). tp_size 1 is the ordinary build.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildFromCheckpoint, TOKENIZER_FILES, type BuildFromCheckpointOptions, type BuildResult } from '../builder/build-command.js';
import { Builder } from '../builder/builder.js';
import { readKilnCheckpoint } from '../checkpoint/index.js';
import type { Engine, EngineConfig } from '../engine/types.js';
import { saveRankEngines } from '../engine/writer.js';
import { BackendError, ConfigError } from '../errors/index.js';
import { createTpPlan, rankSlices, type TpPlan, type VocabParallelMode } from './plan.js';
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

/** Builds `checkpointDir` into `outputDir` sharded over `tpSize` ranks. */
export async function buildTensorParallelFromCheckpoint(options: TensorParallelBuildOptions): Promise<BuildResult> {
  const tpSize = options.tpSize ?? 1;
  if (tpSize === 1) return buildFromCheckpoint(options);
  if (options.target !== 'cpu') {
    throw new BackendError(`--tp_size ${tpSize} with --target ${options.target}: sharded engines run on the CPU backend only for now (the NCCL path of the CUDA backend needs a multi-GPU machine); build with --target cpu`);
  }
  if (options.quant && Object.keys(options.quant).length > 0) {
    throw new ConfigError(`--tp_size ${tpSize} cannot be combined with quantization flags yet; build the sharded engine unquantized, or quantize with --tp_size 1`);
  }
  const log = options.onLog ?? (() => undefined);
  const checkpoint = readKilnCheckpoint(options.checkpointDir);
  try {
    const model = checkpoint.model;
    const plan = createTpPlan(model, tpSize, options.vocabParallel);
    log(`tp ${tpSize}: ${plan.numHeadsPerRank} q heads, ${plan.numKvHeadsPerRank} kv head(s)${plan.kvReplicated ? ' (replicated)' : ''}, ${plan.intermediatePerRank} mlp channels per rank; vocabulary ${plan.vocabParallel ? `split (${plan.vocabPerRank} rows per rank)` : 'replicated'}`);
    const engines: Engine[] = [];
    for (let rank = 0; rank < tpSize; rank++) {
      const slices = rankSlices(model, plan, rank);
      const engine = new Builder().buildEngine(defineRankGraph(model, plan, slices), {
        target: options.target,
        ...(options.settings ? { settings: options.settings } : {}),
        weights: createShardedWeightStore(checkpoint.weights, shardRules(model, plan, slices)),
        model,
        onLog: rank === 0 ? (line) => log(`rank 0: ${line}`) : undefined,
      });
      const config: EngineConfig & { tp: TpShardConfig } = { ...engine.config, tpSize, tp: plan };
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
    checkpoint.weights.dispose();
  }
}
