/** Shared pieces of the quantization tests: fixture engines built in memory and run on the CPU backend. */
import fs from 'node:fs';
import path from 'node:path';
import { createCpuBackend } from '../../src/backends/cpu/index.js';
import { Builder } from '../../src/builder/builder.js';
import { openCheckpoint } from '../../src/checkpoint/index.js';
import type { Engine, WeightStore } from '../../src/engine/types.js';
import type { ModelConfig } from '../../src/models/config.js';
import { parseHfConfig } from '../../src/models/hf-config.js';
import { defineLlama } from '../../src/models/llama.js';
import { planQuantizedBuild } from '../../src/quant/build-hook.js';
import type { QuantOptions } from '../../src/quant/types.js';
import { FIXTURES_DIR } from '../models/reference.js';
import { SingleSequence, TOKENS_PER_BLOCK } from '../models/single-sequence.js';

export const SETTINGS = { maxBatchSize: 1, maxInputLen: 64, maxOutputLen: 64, maxNumTokens: 128, dtype: 'float32' } as const;

export function fixtureConfig(dir: string): ModelConfig {
  const file = path.join(dir, 'config.json');
  return parseHfConfig(JSON.parse(fs.readFileSync(file, 'utf8')), file);
}

/** Builds the model in `dir` (HF fixture or Kiln checkpoint weights given as `weights`), optionally quantized. */
export function buildEngine(dir: string, quant?: Partial<QuantOptions>, opts: { model?: ModelConfig; weights?: WeightStore; log?: string[] } = {}): Engine {
  const model = opts.model ?? fixtureConfig(dir);
  const ckpt = opts.weights ? undefined : openCheckpoint(dir);
  const weights = opts.weights ?? ckpt!;
  const builder = new Builder();
  const network = builder.createNetwork();
  defineLlama(network, model);
  const log = (l: string): void => { opts.log?.push(l); };
  const q = planQuantizedBuild({ checkpointDir: dir, model, graph: network.toGraph(), weights, options: quant, log });
  const engine = builder.buildEngine(network, {
    target: 'cpu', weights: q?.weights ?? weights, model, settings: SETTINGS, onLog: log,
    ...(q ? { passes: q.passes, quant: q.summary } : {}),
  });
  if (q) for (const line of q.report(engine.graph)) log(line);
  // Materialize the lazily built weights before the checkpoint closes.
  const values = new Map(engine.weights.names().map((n) => [n, engine.weights.get(n)]));
  ckpt?.dispose();
  return { ...engine, weights: { names: () => [...values.keys()], has: (n) => values.has(n), get: (n) => values.get(n)! } };
}

export const fixtureDir = (name: string): string => path.join(FIXTURES_DIR, name);

/** Prefill logits [L, V] of `ids` on `engine`. */
export function prefillLogits(engine: Engine, ids: readonly number[], kvDtype: 'float32' | 'fp8e4m3' = 'float32'): Float32Array {
  const model = engine.config.model!;
  const numBlocks = 8;
  const ctx = createCpuBackend().createContext(engine, {
    kvCache: { numLayers: model.numLayers, numKvHeads: model.numKvHeads, headDim: model.headDim, numBlocks, tokensPerBlock: TOKENS_PER_BLOCK, dtype: kvDtype },
  });
  try {
    return new SingleSequence(ctx, Int32Array.from([5, 2, 7, 0, 3, 6, 1, 4]), model.vocabSize).prefill(ids);
  } finally {
    ctx.dispose();
  }
}

export interface Agreement {
  readonly top1: number;
  readonly maxAbs: number;
  /** Max |logit| of the reference, for relative statements. */
  readonly refMax: number;
}

export function compareLogits(ref: Float32Array, got: Float32Array, vocab: number): Agreement {
  let agree = 0, maxAbs = 0, refMax = 0;
  const rows = ref.length / vocab;
  for (let r = 0; r < rows; r++) {
    let a = 0, b = 0;
    for (let j = 0; j < vocab; j++) {
      const i = r * vocab + j;
      if (ref[i]! > ref[r * vocab + a]!) a = j;
      if (got[i]! > got[r * vocab + b]!) b = j;
      maxAbs = Math.max(maxAbs, Math.abs(ref[i]! - got[i]!));
      refMax = Math.max(refMax, Math.abs(ref[i]!));
    }
    if (a === b) agree++;
  }
  return { top1: agree / rows, maxAbs, refMax };
}

/** A deterministic prompt of `n` token ids below `vocab`. */
export function promptIds(n: number, vocab: number, seed = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % vocab;
  });
}
