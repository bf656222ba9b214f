/**
 * `convertCheckpoint`: a Hugging Face model directory (config.json + safetensors) → a Kiln
 * checkpoint (see kiln-checkpoint.ts) in the chosen dtype. Every expected tensor is checked
 * (present, right shape) before anything is written; weights then stream one at a time with
 * round-to-nearest-even conversion; the output appears atomically.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { HostTensor, TypedData } from '../backends/types.js';
import { fromFloat32, isFloatDType, toFloat32 } from '../graph/dtype.js';
import { CheckpointError, ConfigError } from '../errors/index.js';
import type { ModelConfig } from '../models/config.js';
import { parseHfConfig } from '../models/hf-config.js';
import { convertQuantizedCheckpoint, detectHfQuantization } from '../quant/hf-import.js';
import { expectedWeights } from '../models/weights.js';
import { assertReplaceable, writeDirAtomically } from './atomic.js';
import {
  isKilnCheckpointDir, KILN_CHECKPOINT_VERSION, TOKENIZER_FILES, WEIGHTS_FILE, type KilnCheckpointConfig,
} from './kiln-checkpoint.js';
import { openCheckpoint, type SafetensorsCheckpoint } from './safetensors/checkpoint.js';
import { writeSafetensors, type WriteEntry } from './safetensors/writer.js';

export type CheckpointDType = 'float32' | 'float16' | 'bfloat16';

export interface ConvertOptions {
  readonly modelDir: string;
  readonly outputDir: string;
  readonly dtype: CheckpointDType;
  /** Called as each tensor is converted and handed to the writer (`done` of `total` tensors). */
  readonly onProgress?: (done: number, total: number, name: string) => void;
}

export interface ConvertResult {
  readonly outputDir: string;
  readonly model: ModelConfig;
  readonly numTensors: number;
  /** Tensors of the source that were not needed (e.g. rotary_emb.inv_freq). */
  readonly skipped: readonly string[];
}

/** Source tensors that are derivable and never needed. */
const IGNORABLE = /(^|\.)rotary_emb\.inv_freq$/;

function readHfConfig(modelDir: string): { json: unknown; model: ModelConfig } {
  if (!fs.existsSync(modelDir) || !fs.statSync(modelDir).isDirectory()) {
    throw new CheckpointError(`Model directory ${modelDir} does not exist; pass a Hugging Face model directory (config.json + *.safetensors) as --model_dir.`);
  }
  const file = path.join(modelDir, 'config.json');
  if (!fs.existsSync(file)) throw new ConfigError(`${modelDir} has no config.json; download the model's config.json from its repository.`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new ConfigError(`${file} is not valid JSON.`, { cause });
  }
  if (json && typeof json === 'object' && 'kilnCheckpoint' in json) {
    throw new CheckpointError(`${modelDir} is already a Kiln checkpoint; pass it to kiln build --checkpoint_dir instead of converting it again.`);
  }
  // quantization_config is read by detectHfQuantization (quant/hf-import.ts), not by the model config.
  const { quantization_config: _quant, ...modelJson } = json as Record<string, unknown>;
  return { json, model: parseHfConfig(modelJson, file) };
}

export interface TensorPlan {
  readonly names: readonly string[];
  readonly skipped: readonly string[];
}

/** Checks the source against the model's expected tensors; throws naming the first problem. */
export function planTensors(model: ModelConfig, source: SafetensorsCheckpoint, modelDir: string): TensorPlan {
  const names: string[] = [];
  const expectedNames = new Set<string>();
  for (const { name, shape } of expectedWeights(model)) {
    expectedNames.add(name);
    if (!source.has(name)) {
      if (name === 'lm_head.weight' && model.tieWordEmbeddings) continue;
      throw new CheckpointError(`${modelDir} is missing tensor '${name}' (expected shape [${shape.join(', ')}]); the checkpoint is incomplete or does not match config.json.`);
    }
    const found = source.info(name).shape;
    if (found.length !== shape.length || found.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(`Tensor '${name}' in ${modelDir} has shape [${found.join(', ')}], expected [${shape.join(', ')}] from config.json; the weights do not match the config.`);
    }
    if (!isFloatDType(source.info(name).dtype)) {
      throw new CheckpointError(`Tensor '${name}' in ${modelDir} is ${source.info(name).dtype}; Kiln converts float weights only (quantized checkpoints are not supported here).`);
    }
    names.push(name);
  }
  const skipped: string[] = [];
  const unexpected: string[] = [];
  for (const name of source.names()) {
    if (expectedNames.has(name)) continue;
    if (IGNORABLE.test(name) || (name === 'lm_head.weight' && model.tieWordEmbeddings)) skipped.push(name);
    else unexpected.push(name);
  }
  if (unexpected.length > 0) {
    throw new CheckpointError(`${modelDir} has ${unexpected.length} tensor(s) that a ${model.architecture} with this config.json does not use: ${unexpected.slice(0, 5).map((n) => `'${n}'`).join(', ')}${unexpected.length > 5 ? ', ...' : ''}; the checkpoint and config.json disagree (another architecture, or an unsupported feature).`);
  }
  return { names, skipped };
}

/** Converts one tensor's values to `dtype` (RNE); same dtype passes through unchanged. */
export function convertTensor(t: HostTensor, dtype: CheckpointDType): TypedData {
  if (t.dtype === dtype) return t.data;
  return fromFloat32(dtype, toFloat32(t.dtype, t.data)) as TypedData;
}

function copyTokenizerFiles(modelDir: string, dest: string): string[] {
  const copied: string[] = [];
  for (const name of TOKENIZER_FILES) {
    const from = path.join(modelDir, name);
    if (!fs.existsSync(from)) continue;
    fs.copyFileSync(from, path.join(dest, name));
    copied.push(name);
  }
  return copied;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Converts an HF model directory into a Kiln checkpoint at `outputDir` (replacing an older one). */
export async function convertCheckpoint(options: ConvertOptions): Promise<ConvertResult> {
  const { modelDir, outputDir, dtype } = options;
  if (path.resolve(modelDir) === path.resolve(outputDir)) throw new CheckpointError('--output_dir must differ from --model_dir.');
  const { json, model: source } = readHfConfig(modelDir);
  const hfQuant = detectHfQuantization(json, path.join(modelDir, 'config.json'));
  if (hfQuant) return convertQuantizedCheckpoint(options, source, hfQuant);
  assertReplaceable(outputDir, isKilnCheckpointDir, 'Kiln checkpoint');
  const ckpt = openCheckpoint(modelDir);
  try {
    const plan = planTensors(source, ckpt, modelDir);
    const model: ModelConfig = { ...source, dtype };
    await writeDirAtomically(outputDir, async (job) => {
      const entries: WriteEntry[] = plan.names.map((name, i) => ({
        name, dtype, shape: ckpt.info(name).shape,
        data: async () => {
          await yieldToEventLoop(); // lets a pending SIGINT/SIGTERM handler run
          job.checkInterrupted();
          const data = convertTensor(ckpt.read(name), dtype);
          options.onProgress?.(i + 1, plan.names.length, name);
          return data;
        },
      }));
      await writeSafetensors(path.join(job.tempDir, WEIGHTS_FILE), entries, { metadata: { format: 'pt' } });
      copyTokenizerFiles(modelDir, job.tempDir);
      const config: KilnCheckpointConfig = {
        kilnCheckpoint: KILN_CHECKPOINT_VERSION,
        model,
        source: { format: 'huggingface', modelDir: path.resolve(modelDir), architecture: source.architecture, dtype: source.dtype, files: ckpt.paths().map((p) => path.basename(p)) },
      };
      fs.writeFileSync(path.join(job.tempDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    });
    return { outputDir, model, numTensors: plan.names.length, skipped: plan.skipped };
  } finally {
    ckpt.dispose();
  }
}
