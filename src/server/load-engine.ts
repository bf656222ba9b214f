/**
 * Loads an engine directory into an `EngineCore` (the runtime's `LLM`) plus the `ModelInfo`
 * the server needs. Used by the engine worker and by `createInProcessClient`.
 */
import { basename, resolve } from 'node:path';
import { EngineLoadError } from '../errors/index.js';
import { LLM } from '../runtime/llm.js';
import { InProcessEngineClient, type EngineCore, type ModelInfo } from './engine-client.js';
import type { EngineLoadOptions } from './protocol.js';

export interface LoadedEngineCore {
  readonly core: EngineCore;
  readonly modelInfo: ModelInfo;
  dispose(): void | Promise<void>;
}

/** The served model name: the option, else the engine directory's base name. */
export function modelNameOf(options: Pick<EngineLoadOptions, 'engineDir' | 'modelName'>): string {
  return options.modelName ?? basename(resolve(options.engineDir));
}

/** ModelInfo of a loaded LLM. */
export function modelInfoOf(llm: LLM, name: string): ModelInfo {
  const { build, model } = llm.engine.config;
  if (!model) throw new EngineLoadError(`${llm.options.engineDir} holds no LLM engine (config.json has no model); build it from a model checkpoint.`);
  return {
    name,
    maxInputLen: build.maxInputLen,
    maxOutputLen: build.maxOutputLen,
    // The executor refuses ids the tokenizer cannot decode as well as ids past the logits.
    vocabSize: Math.min(model.vocabSize, llm.tokenizer.vocabSize),
    hasChatTemplate: llm.tokenizer.hasChatTemplate(),
  };
}

export async function loadEngineCore(options: EngineLoadOptions): Promise<LoadedEngineCore> {
  const llm = new LLM({
    engineDir: options.engineDir,
    ...(options.backend ? { backend: options.backend as 'cpu' | 'cuda' } : {}),
    ...(options.kvCacheBytes ? { kvCacheBytes: options.kvCacheBytes } : {}),
  });
  const modelInfo = modelInfoOf(llm, modelNameOf(options));
  await llm.generate([]); // waits until the backend context is up, so 'ready' means ready
  return { core: llm, modelInfo, dispose: () => llm.dispose() };
}

/** The engine in this thread (tests, embedding); `close()` disposes it. */
export async function createInProcessClient(options: EngineLoadOptions): Promise<InProcessEngineClient> {
  const loaded = await loadEngineCore(options);
  return new InProcessEngineClient(loaded.core, loaded.modelInfo, () => loaded.dispose());
}
