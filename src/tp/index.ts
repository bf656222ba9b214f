/**
 * Tensor parallelism: sharded builds (`kiln build --tp_size N`) and, on the CPU backend, ranks as
 * worker threads joined by a shared-memory all-reduce. The NCCL bindings for the GPU path live in
 * backends/cuda/nccl.ts.
 */
export { buildTensorParallelFromCheckpoint, type TensorParallelBuildOptions, type TpShardConfig } from './build.js';
export { createTensorParallelContext, TensorParallelContext, type TensorParallelOptions } from './context.js';
export { tryParseMpiEnv, type MpiWorld } from './mpi-env.js';
export {
  checkTpFitsDevices, chooseVocabParallel, createTpPlan, rankModelConfig, rankSlices, VOCAB_SPLIT_MIN_BYTES,
  type RankSlices, type TpPlan, type VocabParallelMode,
} from './plan.js';
export { defineRankGraph } from './shard-graph.js';
export { createShardedWeightStore, shardRules, sliceWeight, type ShardRule } from './shard-weights.js';
export { SharedMemoryCommunicator, createTpSharedBuffers, type TpSharedBuffers } from './shared-memory.js';
