/**
 * LLM: the one-line entry point. Loads an engine directory (engine + tokenizer), creates the
 * backend context with a paged KV cache sized from a byte budget, and runs an Executor over it.
 * The backend loads asynchronously: methods wait for it, so `new LLM(...)` stays synchronous and
 * engine/tokenizer errors are thrown right from the constructor.
 */
import type { ExecutionContext, KvCacheSpec } from '../backends/types.js';
import { getBackend } from '../backends/registry.js';
import { loadEngine, type LoadedEngine } from '../engine/reader.js';
import { ConfigError } from '../errors/index.js';
import { createTensorParallelContext } from '../tp/context.js';
import { createGpuTensorParallelContext, mpiFromEnv, resolveTpLaunch } from '../tp/gpu-launch.js';
import { loadTokenizer } from '../tokenizer/index.js';
import type { TextTokenizer } from '../tokenizer/types.js';
import type { ExecutorStats, GenerateRequest, RequestDelta, RequestResult, SamplingParams } from './api.js';
import { Executor } from './executor/executor.js';
import { DEFAULT_TOKENS_PER_BLOCK, numBlocksForBudget } from './kv-cache/kv-cache-manager.js';

export interface LLMOptions {
  readonly engineDir: string;
  /** Default: the engine's build target. */
  readonly backend?: 'cpu' | 'cuda';
  /** KV cache budget in bytes (default 256 MiB on CPU, 2 GiB on CUDA), capped to what the build limits can use. */
  readonly kvCacheBytes?: number;
  readonly tokensPerBlock?: number;
  readonly chunkedPrefill?: boolean;
  readonly enablePrefixCaching?: boolean;
  /** Per-step token budget, at most the engine's maxNumTokens (default: the engine's). */
  readonly maxNumTokens?: number;
}

const MiB = 1024 * 1024;

/** The KV cache shape for `engine` within `bytes`, never larger than max batch × (max input + output). */
export function kvSpecForEngine(engine: LoadedEngine, backend: 'cpu' | 'cuda', bytes: number, tokensPerBlock: number): KvCacheSpec {
  const model = engine.config.model;
  if (!model) throw new ConfigError(`${engine.dir} is not an LLM engine (its config has no model): LLM runs engines built from a model checkpoint`);
  const build = engine.config.build;
  // The CPU backend keeps its cache in float32 whatever the engine dtype, so budget it as such.
  // An fp8 KV cache engine (built with --kv_cache_dtype fp8) budgets 1 byte per element on every backend.
  const fp8Kv = engine.graph.nodes.some((n) => n.op === 'attention' && n.attrs['kvCacheDtype'] === 'fp8e4m3');
  const shape = { numLayers: model.numLayers, numKvHeads: model.numKvHeads, headDim: model.headDim, tokensPerBlock, dtype: fp8Kv ? ('fp8e4m3' as const) : backend === 'cpu' ? ('float32' as const) : build.dtype };
  const maxUseful = build.maxBatchSize * Math.ceil((build.maxInputLen + build.maxOutputLen) / tokensPerBlock);
  const numBlocks = Math.min(numBlocksForBudget(bytes, shape), maxUseful);
  if (numBlocks < 1) throw new ConfigError(`a KV cache budget of ${bytes} bytes holds no ${tokensPerBlock}-token block: raise kvCacheBytes`);
  return { ...shape, numBlocks };
}

export class LLM {
  readonly engine: LoadedEngine;
  readonly tokenizer: TextTokenizer;
  private readonly ready: Promise<{ executor: Executor; context: ExecutionContext }>;
  private executor: Executor | null = null;
  private context: ExecutionContext | null = null;
  private disposed = false;

  constructor(readonly options: LLMOptions) {
    this.engine = loadEngine(options.engineDir, options.backend ? { target: options.backend } : {});
    this.tokenizer = loadTokenizer(options.engineDir);
    const backend = options.backend ?? this.engine.config.target;
    const tokensPerBlock = options.tokensPerBlock ?? DEFAULT_TOKENS_PER_BLOCK;
    const bytes = options.kvCacheBytes ?? (backend === 'cpu' ? 256 * MiB : 2048 * MiB);
    const spec = kvSpecForEngine(this.engine, backend, bytes, tokensPerBlock);
    this.ready = this.start(backend, spec);
    this.ready.catch(() => undefined); // surfaced by the first call that awaits it
  }

  /** Logits width of the model (token ids are below it). */
  get vocabSize(): number {
    return this.engine.config.model?.vocabSize ?? this.tokenizer.vocabSize;
  }

  async generate(prompts: readonly (string | GenerateRequest)[], params?: SamplingParams): Promise<RequestResult[]> {
    const { executor } = await this.ready;
    return executor.generate(prompts.map((p) => toRequest(p, params)));
  }

  /** Streams one request's deltas. */
  async *submit(request: string | GenerateRequest, params?: SamplingParams): AsyncIterable<RequestDelta> {
    const { executor } = await this.ready;
    yield* executor.submit(toRequest(request, params));
  }

  cancel(requestId: string): boolean {
    return this.executor?.cancel(requestId) ?? false;
  }

  /** Bytes the backend holds: weights, KV pool, activations, other (zeros until the backend is up). */
  memoryUsage(): { weights: number; kvCache: number; activations: number; other: number } {
    const usage = this.context?.memoryUsage();
    return { weights: usage?.weights ?? 0, kvCache: usage?.kvCache ?? 0, activations: usage?.activations ?? 0, other: usage?.other ?? 0 };
  }

  /** Zeros until the backend is up. */
  stats(): ExecutorStats {
    if (this.executor) return this.executor.stats();
    const kv = { numBlocks: 0, numUsed: 0, numFree: 0, numCached: 0, tokensPerBlock: 0, prefixHitRate: 0, fragmentation: 0 };
    return { numWaiting: 0, numRunning: 0, numPreemptions: 0, kv, numSteps: 0, numPromptTokens: 0, numGeneratedTokens: 0 };
  }

  /** Cancels what is in flight and frees the backend context. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    void this.ready.then(({ executor, context }) => {
      executor.close();
      context.dispose();
    }, () => undefined);
  }

  /** One backend context, or for a tp > 1 engine the tensor-parallel driver over its rank workers. */
  private async createContext(backendName: 'cpu' | 'cuda', spec: KvCacheSpec): Promise<ExecutionContext> {
    const tpSize = this.engine.config.tpSize;
    if (tpSize <= 1) return (await getBackend(backendName)).createContext(this.engine, { kvCache: spec });
    if (backendName === 'cuda') {
      // One process per GPU over NCCL: rank 0 here, the others forked (or started by mpirun).
      const { countCudaDevices } = await import('../backends/cuda/collective.js');
      const launch = resolveTpLaunch({ engineTpSize: tpSize, numLocalDevices: countCudaDevices(), ...mpiFromEnv(process.env) });
      return createGpuTensorParallelContext(this.engine.dir, spec, launch);
    }
    return createTensorParallelContext(this.engine.dir, spec, tpSize);
  }

  private async start(backendName: 'cpu' | 'cuda', spec: KvCacheSpec): Promise<{ executor: Executor; context: ExecutionContext }> {
    const context = await this.createContext(backendName, spec);
    const { maxBatchSize, maxInputLen, maxOutputLen } = this.engine.config.build;
    const maxNumTokens = Math.min(this.options.maxNumTokens ?? Infinity, this.engine.config.build.maxNumTokens);
    const settings = { maxBatchSize, maxNumTokens, maxInputLen, maxOutputLen, ...(this.options.chunkedPrefill !== undefined ? { chunkedPrefill: this.options.chunkedPrefill } : {}) };
    const kv = { numBlocks: spec.numBlocks, tokensPerBlock: spec.tokensPerBlock, ...(this.options.enablePrefixCaching !== undefined ? { enablePrefixCaching: this.options.enablePrefixCaching } : {}) };
    const executor = new Executor({ context, tokenizer: this.tokenizer, settings, kv });
    this.executor = executor;
    this.context = context;
    return { executor, context };
  }
}

function toRequest(p: string | GenerateRequest, params: SamplingParams | undefined): GenerateRequest {
  if (typeof p === 'string') return { prompt: p, ...(params ? { params } : {}) };
  return params && !p.params ? { ...p, params } : p;
}
