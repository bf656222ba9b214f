/**
 * Kiln's public API: define a network (graph), build it ahead of time (builder), load engines
 * (engine), run them on a backend, and generate with the runtime (`LLM`, `Executor`).
 */
export * from './errors/index.js';
export * from './graph/index.js';
export { Builder, buildFromCheckpoint, resolveBuildSettings, type BuildEngineOptions } from './builder/index.js';
export { loadEngine, saveEngine } from './engine/index.js';
export type { Engine, EngineConfig, BuildSettings, Target, WeightStore } from './engine/types.js';
export type { Backend, ExecutionContext, HostTensor, StepInputs, AttentionMetadata, KvCacheSpec } from './backends/types.js';
export { getBackend, listBackends } from './backends/registry.js';
export { createCpuBackend } from './backends/cpu/index.js';
export { parseHfConfig, defineLlama, expectedWeights } from './models/index.js';
export type { ModelConfig, RopeScaling } from './models/config.js';
export { convertCheckpoint, openCheckpoint, writeSafetensors, readKilnCheckpoint, writeTinyModel } from './checkpoint/index.js';
export { loadTokenizer } from './tokenizer/index.js';
export type { TextTokenizer, ChatMessage, IncrementalDetokenizer } from './tokenizer/types.js';
export { LLM, Executor, type LLMOptions } from './runtime/index.js';
export type {
  SamplingParams, GenerateRequest, RequestDelta, RequestResult, CompletionOutput, ExecutorStats, FinishReason, TokenLogprob,
} from './runtime/api.js';
export { startServer, createServer, type StartServerOptions } from './server/index.js';
