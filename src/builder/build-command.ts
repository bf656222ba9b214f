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
import { planQuantizedBuild } from '../quant/build-hook.js';
import type { QuantOptions } from '../quant/types.js';
import { Builder } from './builder.js';
import { resolveEngineDtype, withEngineDtype, type BuildDtypeFlag } from './dtype.js';
import { dummyQuantization, placeholderWeightStore, readModelConfigOnly, type LoadFormat } from './dummy-build.js';
import { tryGetTargetBuilder } from './targets.js';

export { TOKENIZER_FILES };

export interface BuildFromCheckpointOptions {
  readonly checkpointDir: string;
  readonly outputDir: string;
  readonly target: Target;
  readonly settings?: Partial<BuildSettings>;
  readonly onLog?: (line: string) => void;
  /** Quantization flags (quant/types.ts); a pre-quantized checkpoint is detected by itself. */
  readonly quant?: Partial<QuantOptions>;
  /** 'dummy': build from config.json alone; backends fill seeded random weights at load (default 'auto'). */
  readonly loadFormat?: LoadFormat;
  /** Seed of the dummy weights (default 0). */
  readonly dummySeed?: number;
  /** --target cuda: the cuBLASLt timing-cache file (default ~/.cache/kiln/cublaslt-timing.json). */
  readonly timingCache?: string;
  /** `--dtype`: auto (the checkpoint's; float32 → bfloat16 for cuda), bfloat16 or float16; float weights are rounded to it. */
  readonly dtype?: BuildDtypeFlag;
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
  if (options.target === 'cuda') {
    // Loaded only for cuda, so CPU builds never touch koffi or the driver.
    const { registerCudaTarget } = await import('../backends/cuda/register-target.js');
    registerCudaTarget(options.timingCache ? { timingCachePath: options.timingCache } : {});
  }
  if (options.loadFormat === 'dummy') return buildDummy(options, log);
  if (options.target !== 'cpu' && !tryGetTargetBuilder(options.target)) {
    throw new BackendError(`--target ${options.target}: the ${options.target} builder needs the ${options.target} backend, which has not registered itself (registerTargetBuilder); build with --target cpu, or where the ${options.target} backend loads`);
  }
  const checkpoint = readKilnCheckpoint(options.checkpointDir);
  try {
    const dtype = resolveEngineDtype(options.dtype ?? 'auto', checkpoint.model.dtype, options.target);
    const { model, weights } = withEngineDtype(checkpoint.model, checkpoint.weights, dtype);
    if (dtype !== checkpoint.model.dtype) log(`dtype: ${checkpoint.model.dtype} checkpoint → ${dtype} engine (float weights rounded to ${dtype})`);
    const builder = new Builder();
    const network = builder.createNetwork();
    defineModel(network, model);
    const quant = planQuantizedBuild({
      checkpointDir: options.checkpointDir, model, graph: network.toGraph(), weights, options: options.quant, log,
    });
    const engine = builder.buildEngine(network, {
      target: options.target,
      settings: { ...options.settings, dtype },
      weights: quant?.weights ?? weights,
      model,
      onLog: log,
      ...(quant ? { passes: quant.passes, quant: quant.summary } : {}),
    });
    if (quant) for (const line of quant.report(engine.graph)) log(line);
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

/** `--load_format dummy`: the model from config.json, no weight bytes; the engine records its seed. */
function buildDummy(options: BuildFromCheckpointOptions, log: (line: string) => void): BuildResult {
  const raw = readModelConfigOnly(options.checkpointDir);
  const model = { ...raw, dtype: resolveEngineDtype(options.dtype ?? 'auto', raw.dtype, options.target) };
  const builder = new Builder();
  const network = builder.createNetwork();
  defineModel(network, model);
  const quant = dummyQuantization(network.toGraph(), options.quant);
  const built = builder.buildEngine(network, {
    target: options.target,
    settings: { ...options.settings, dtype: model.dtype },
    weights: placeholderWeightStore(network.toGraph()),
    model,
    onLog: log,
    ...(quant ? { passes: quant.passes, quant: quant.summary } : {}),
  });
  const engine = { ...built, config: { ...built.config, dummyWeights: { seed: options.dummySeed ?? 0 } } };
  const files = TOKENIZER_FILES
    .map((name) => ({ name, from: path.join(options.checkpointDir, name) }))
    .filter((f) => fs.existsSync(f.from));
  saveEngine(engine, options.outputDir, { files });
  const engineDir = path.resolve(options.outputDir);
  log(`wrote ${engineDir}: ${engine.graph.nodes.length} nodes, dummy weights (seed ${options.dummySeed ?? 0}), ${files.length} tokenizer files`);
  return { engineDir, config: engine.config };
}
