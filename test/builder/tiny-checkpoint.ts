/** The tiny bf16 Llama checkpoint the build-command tests share, one prefill step, and its logits on the CPU. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createCpuBackend } from '../../src/backends/cpu/index.js';
import type { StepInputs } from '../../src/backends/types.js';
import { convertCheckpoint, readKilnCheckpoint, writeTinyModel } from '../../src/checkpoint/index.js';
import type { Engine } from '../../src/engine/types.js';
import type { ModelConfig } from '../../src/models/config.js';

export interface TinyCheckpoint {
  /** A fresh temp folder holding `hf/` and `ckpt/`; remove it when done. */
  readonly tmp: string;
  readonly ckpt: string;
  readonly model: ModelConfig;
}

/** Writes the built-in tiny model as a bf16 HF checkpoint and converts it (dtype bfloat16). */
export async function makeTinyBf16Checkpoint(prefix: string): Promise<TinyCheckpoint> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  await writeTinyModel(path.join(tmp, 'hf'), { dtype: 'bfloat16' });
  const ckpt = path.join(tmp, 'ckpt');
  await convertCheckpoint({ modelDir: path.join(tmp, 'hf'), outputDir: ckpt, dtype: 'bfloat16' });
  const c = readKilnCheckpoint(ckpt);
  c.weights.dispose();
  return { tmp, ckpt, model: c.model };
}

/** One prefill step of 7 tokens for one sequence (blocks 0 and 1, 4 tokens per block), logits at positions 3 and 6. */
export function prefillStep(): StepInputs {
  const T = 7;
  return {
    tensors: {
      input_ids: { dtype: 'int32', shape: [T], data: Int32Array.from([1, 40, 41, 300, 7, 99, 12]) },
      positions: { dtype: 'int32', shape: [T], data: Int32Array.from({ length: T }, (_, i) => i) },
      logits_indices: { dtype: 'int32', shape: [2], data: Int32Array.from([3, T - 1]) },
    },
    attention: {
      seqs: [{ queryStart: 0, numQueryTokens: T, contextLen: T, blockTable: Int32Array.from([0, 1]) }],
      slotMapping: Int32Array.from({ length: T }, (_, i) => i),
    },
  };
}

/** The engine's logits for `prefillStep()` on the CPU backend (a copy). */
export function prefillLogits(engine: Engine, model: ModelConfig): Float32Array {
  const ctx = createCpuBackend().createContext(engine, {
    kvCache: { numLayers: model.numLayers, numKvHeads: model.numKvHeads, headDim: model.headDim, numBlocks: 4, tokensPerBlock: 4, dtype: 'float32' },
  });
  try {
    return Float32Array.from(ctx.run(prefillStep())['logits']!.data as Float32Array);
  } finally {
    ctx.dispose();
  }
}
