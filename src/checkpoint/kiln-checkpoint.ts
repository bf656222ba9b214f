/**
 * A Kiln checkpoint: the directory `kiln convert` writes and `kiln build` reads.
 *   config.json        { kilnCheckpoint: 1, model: ModelConfig, source: {...} }
 *   rank0.safetensors  every weight the model needs, HF names, in `model.dtype`
 *   tokenizer files    copied from the HF directory (whichever exist)
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { CheckpointError } from '../errors/index.js';
import type { ModelConfig } from '../models/config.js';
import { openCheckpoint, type SafetensorsCheckpoint } from './safetensors/checkpoint.js';

export const KILN_CHECKPOINT_VERSION = 1;
export const WEIGHTS_FILE = 'rank0.safetensors';
/** Tokenizer-side files carried from the HF directory into the checkpoint (and on into engines). */
export const TOKENIZER_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json',
  'chat_template.jinja', 'chat_template.json',
] as const;

export interface CheckpointSource {
  readonly format: 'huggingface';
  readonly modelDir: string;
  readonly architecture: string;
  /** dtype of the source weights (from its config). */
  readonly dtype: string;
  readonly files: readonly string[];
}

export interface KilnCheckpointConfig {
  readonly kilnCheckpoint: number;
  readonly model: ModelConfig;
  readonly source: CheckpointSource;
}

export interface KilnCheckpoint {
  readonly dir: string;
  readonly model: ModelConfig;
  /** Lazy weights (a WeightStore); the caller disposes it when done. */
  readonly weights: SafetensorsCheckpoint;
}

const ropeSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('default') }),
  z.object({ type: z.literal('linear'), factor: z.number() }),
  z.object({
    type: z.literal('llama3'), factor: z.number(), lowFreqFactor: z.number(), highFreqFactor: z.number(),
    originalMaxPositionEmbeddings: z.number(),
  }),
]);

const positive = z.number().int().positive();
const modelSchema = z.object({
  family: z.enum(['llama', 'mistral', 'qwen2']),
  architecture: z.string(),
  vocabSize: positive, hiddenSize: positive, intermediateSize: positive, numLayers: positive,
  numHeads: positive, numKvHeads: positive, headDim: positive,
  rmsNormEps: z.number().positive(), ropeTheta: z.number().positive(), ropeScaling: ropeSchema,
  maxPositionEmbeddings: positive, tieWordEmbeddings: z.boolean(), qkvBias: z.boolean(), oProjBias: z.boolean(),
  slidingWindow: positive.nullable(),
  dtype: z.enum(['float32', 'float16', 'bfloat16']),
  bosTokenId: z.number().int().nullable(), eosTokenIds: z.array(z.number().int()),
}).passthrough();

/** True when `dir/config.json` is a Kiln checkpoint config (any version). */
export function isKilnCheckpointDir(dir: string): boolean {
  try {
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    return typeof json.kilnCheckpoint === 'number';
  } catch {
    return false;
  }
}

function readConfig(dir: string): Record<string, unknown> {
  if (!fs.existsSync(dir)) throw new CheckpointError(`Checkpoint directory ${dir} does not exist; create it with: kiln convert --model_dir HF_DIR --output_dir ${dir}`);
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) throw new CheckpointError(`${dir} has no config.json, so it is not a Kiln checkpoint; create one with: kiln convert --model_dir HF_DIR --output_dir ${dir}`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (cause) {
    throw new CheckpointError(`${file} is not valid JSON; re-run kiln convert.`, { cause });
  }
}

/** Opens a Kiln checkpoint. Throws CheckpointError saying what to do (e.g. "run kiln convert first"). */
export function readKilnCheckpoint(dir: string): KilnCheckpoint {
  const json = readConfig(dir);
  if (json.kilnCheckpoint === undefined) {
    const hf = 'architectures' in json || 'model_type' in json;
    throw new CheckpointError(hf
      ? `${dir} is a Hugging Face model directory, not a Kiln checkpoint; run kiln convert first: kiln convert --model_dir ${dir} --output_dir CKPT_DIR`
      : `${dir}/config.json is not a Kiln checkpoint config (no kilnCheckpoint field); run kiln convert first.`);
  }
  if (json.kilnCheckpoint !== KILN_CHECKPOINT_VERSION) {
    throw new CheckpointError(`${dir} is a Kiln checkpoint of version ${String(json.kilnCheckpoint)}, but this Kiln reads version ${KILN_CHECKPOINT_VERSION}; re-run kiln convert with this version.`);
  }
  const model = modelSchema.safeParse(json.model);
  if (!model.success) {
    const issue = model.error.issues[0];
    throw new CheckpointError(`${dir}/config.json: model.${issue?.path.join('.') ?? ''} is invalid (${issue?.message ?? 'bad value'}); re-run kiln convert.`);
  }
  const weightsPath = path.join(dir, WEIGHTS_FILE);
  if (!fs.existsSync(weightsPath)) throw new CheckpointError(`${dir} has no ${WEIGHTS_FILE}; the checkpoint is incomplete — re-run kiln convert.`);
  return { dir, model: model.data as ModelConfig, weights: openCheckpoint(weightsPath) };
}
