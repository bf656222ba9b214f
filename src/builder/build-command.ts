/**
 * `kiln build`: Kiln checkpoint → Llama-family network → passes and plan → engine directory,
 * with the checkpoint's tokenizer files copied next to the rank file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readKilnCheckpoint, TOKENIZER_FILES } from '../checkpoint/index.js';
import { defineModel } from '../models/index.js';
import type { BuildSettings, EngineConfig, Target } from '../engine/types.js';
import { saveEngine } from '../engine/writer.js';
import { BackendError } from '../errors/index.js';
import { Builder } from './builder.js';
import { tryGetTargetBuilder } from './targets.js';

export { TOKENIZER_FILES };

export interface BuildFromCheckpointOptions {
  readonly checkpointDir: string;
  readonly outputDir: string;
  readonly target: Target;
  readonly settings?: Partial<BuildSettings>;
  readonly onLog?: (line: string) => void;
}

export interface BuildResult {
  /** Absolute path of the engine directory written. */
  readonly engineDir: string;
  readonly config: EngineConfig;
}

/**
 * Builds the checkpoint into the engine directory `outputDir` (written atomically). The
 * checkpoint's weights are closed before this returns; load the engine with `loadEngine`.
 */
export async function buildFromCheckpoint(options: BuildFromCheckpointOptions): Promise<BuildResult> {
  const log = options.onLog ?? (() => undefined);
  if (options.target !== 'cpu' && !tryGetTargetBuilder(options.target)) {
    throw new BackendError(`--target ${options.target}: the ${options.target} builder needs the ${options.target} backend, which has not registered itself (registerTargetBuilder); build with --target cpu, or where the ${options.target} backend loads`);
  }
  const checkpoint = readKilnCheckpoint(options.checkpointDir);
  try {
    const builder = new Builder();
    const network = builder.createNetwork();
    defineModel(network, checkpoint.model);
    const engine = builder.buildEngine(network, {
      target: options.target,
      ...(options.settings ? { settings: options.settings } : {}),
      weights: checkpoint.weights,
      model: checkpoint.model,
      onLog: log,
    });
    const files = TOKENIZER_FILES
      .map((name) => ({ name, from: path.join(options.checkpointDir, name) }))
      .filter((f) => fs.existsSync(f.from));
    saveEngine(engine, options.outputDir, { files });
    const engineDir = path.resolve(options.outputDir);
    log(`wrote ${engineDir}: ${engine.graph.nodes.length} nodes, ${engine.weights.names().length} weights, ${files.length} tokenizer files`);
    return { engineDir, config: engine.config };
  } finally {
    checkpoint.weights.dispose();
  }
}
