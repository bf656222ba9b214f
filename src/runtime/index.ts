/** The runtime: paged KV cache, in-flight batching scheduler, sampling, executor and LLM. */
export * from './api.js';
export { LLM, type LLMOptions, kvSpecForEngine } from './llm.js';
export { Executor, type ExecutorOptions, type ExecutorSettings } from './executor/executor.js';
export { BlockPool } from './kv-cache/block-pool.js';
export { hashBlock, hashFullBlocks, type BlockHash } from './kv-cache/block-hash.js';
export {
  KVCacheManager, DEFAULT_TOKENS_PER_BLOCK, bytesPerBlock, numBlocksForBudget, type ComputedBlocks, type KvCacheStats,
} from './kv-cache/kv-cache-manager.js';
export { Scheduler, type SchedulerConfig } from './scheduler/scheduler.js';
export { Sequence, type SeqStatus } from './scheduler/sequence.js';
export type { ScheduledSeq, SchedulerOutput, RunnerOutput } from './scheduler/types.js';
export { buildStepInputs, runStep } from './runner/model-runner.js';
export { createSamplingConfig, type SamplingConfig } from './sampling/params.js';
export { sampleToken, processLogits, tokenLogprob, drawFrom, type SampleContext, type SampledToken } from './sampling/sampler.js';
export * from './sampling/processors.js';
export { uniformAt, randomSeed } from './sampling/prng.js';
export { StopStringMatcher, type StopResult } from './sampling/stop-strings.js';
export { BeamHypotheses, beamStep, topCandidates, type BeamCandidate, type Hypothesis } from './sampling/beam-search.js';
