/** Builds HF fixtures into engines at several tp sizes (fixture → convert → build), as users would. */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertCheckpoint, type CheckpointDType } from '../../src/checkpoint/convert.js';
import { buildTensorParallelFromCheckpoint } from '../../src/tp/build.js';
import type { VocabParallelMode } from '../../src/tp/plan.js';
import type { KvCacheSpec, StepInputs } from '../../src/backends/types.js';
import type { ModelConfig } from '../../src/models/config.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/models/', import.meta.url));
export const LIMITS = { maxBatchSize: 8, maxInputLen: 48, maxOutputLen: 16, maxNumTokens: 64 };

export interface FixtureBuild {
  readonly root: string;
  readonly checkpointDir: string;
  /** The engine directory at `tpSize` (built once per fixture). */
  engine(tpSize: number, vocabParallel?: VocabParallelMode): Promise<string>;
  cleanup(): void;
}

/** Converts fixture `name` (with the unseen-llama tokenizer, whose ids cover the fixture vocab for decoding). */
export async function prepareFixture(name: string, dtype: CheckpointDType = 'float32'): Promise<FixtureBuild> {
  const root = mkdtempSync(join(tmpdir(), `kiln-tp-${name}-`));
  const hf = join(root, 'hf');
  mkdirSync(hf);
  for (const f of ['config.json', 'generation_config.json', 'model.safetensors']) copyFileSync(join(FIXTURES, name, f), join(hf, f));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(FIXTURES, 'unseen-llama', f), join(hf, f));
  const checkpointDir = join(root, 'ckpt');
  await convertCheckpoint({ modelDir: hf, outputDir: checkpointDir, dtype });
  const built = new Map<string, Promise<string>>();
  return {
    root,
    checkpointDir,
    engine(tpSize, vocabParallel = 'auto') {
      const outputDir = join(root, `tp${tpSize}-${vocabParallel}`);
      let done = built.get(outputDir);
      if (!done) {
        done = buildTensorParallelFromCheckpoint({ checkpointDir, outputDir, target: 'cpu', settings: LIMITS, tpSize, vocabParallel }).then(() => outputDir);
        built.set(outputDir, done);
      }
      return done;
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** A prefill of `ids` as one sequence in blocks 0.. (tokensPerBlock 16), with logits at every position. */
export function prefillStep(ids: readonly number[]): StepInputs {
  const n = ids.length;
  return {
    tensors: {
      input_ids: { dtype: 'int32', shape: [n], data: Int32Array.from(ids) },
      positions: { dtype: 'int32', shape: [n], data: Int32Array.from(ids.keys()) },
      logits_indices: { dtype: 'int32', shape: [n], data: Int32Array.from(ids.keys()) },
    },
    attention: {
      seqs: [{ queryStart: 0, numQueryTokens: n, contextLen: n, blockTable: Int32Array.from({ length: Math.ceil(n / 16) }, (_, i) => i) }],
      slotMapping: Int32Array.from(ids.keys()),
    },
  };
}

export function kvSpec(model: ModelConfig): KvCacheSpec {
  return { numLayers: model.numLayers, numKvHeads: model.numKvHeads, headDim: model.headDim, numBlocks: 16, tokensPerBlock: 16, dtype: 'float32' };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
