import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyBf16Checkpoint, prefillLogits } from './tiny-checkpoint.js';
import { buildFromCheckpoint } from '../../src/builder/build-command.js';
import { Builder } from '../../src/builder/builder.js';
import { readKilnCheckpoint } from '../../src/checkpoint/index.js';
import { loadEngine } from '../../src/engine/reader.js';
import type { Engine } from '../../src/engine/types.js';
import { BackendError, ConfigError } from '../../src/errors/index.js';
import { defineModel } from '../../src/models/index.js';
import type { ModelConfig } from '../../src/models/config.js';
import { ops } from './helpers.js';

let tmp = '';
let ckpt = '';
let model: ModelConfig;
const settings = { maxBatchSize: 2, maxInputLen: 32, maxOutputLen: 32, maxNumTokens: 64 };

beforeAll(async () => {
  ({ tmp, ckpt, model } = await makeTinyBf16Checkpoint('kiln-buildcmd-'));
});
afterAll(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

const logits = (engine: Engine): Float32Array => prefillLogits(engine, model);

describe('buildFromCheckpoint', () => {
  it('builds the tiny Llama: fused graph, tokenizer files, same logits as the unfused graph', async () => {
    const out = path.join(tmp, 'engine');
    const lines: string[] = [];
    const result = await buildFromCheckpoint({ checkpointDir: ckpt, outputDir: out, target: 'cpu', settings, onLog: (l) => lines.push(l) });
    expect(result.engineDir).toBe(path.resolve(out));
    const files = fs.readdirSync(out).sort();
    expect(files).toEqual(expect.arrayContaining(['config.json', 'generation_config.json', 'rank0.engine', 'tokenizer.json', 'tokenizer_config.json']));
    expect(lines[0]).toBe(`merge-qkv: merged ${model.numLayers} q/k/v groups (${3 * model.numLayers} matmuls → ${model.numLayers} matmuls + ${model.numLayers} splits; 0 with merged bias)`);
    expect(lines.some((l) => l.startsWith('memory plan: peak '))).toBe(true);
    const engine = loadEngine(out, { target: 'cpu' });
    expect(engine.config.model).toEqual(model);
    expect(engine.config.build).toEqual({ ...settings, dtype: 'bfloat16' });
    const count = (op: string) => ops(engine).filter((o) => o === op).length;
    const L = model.numLayers;
    expect({ split: count('split'), silu_mul: count('silu_mul'), add_rmsnorm: count('add_rmsnorm'), rmsnorm: count('rmsnorm'), matmul: count('matmul'), attention: count('attention') })
      .toEqual({ split: L, silu_mul: L, add_rmsnorm: 2 * L, rmsnorm: 1, matmul: 4 * L + 1 /* qkv, o, gate_up, down per layer + lm_head */, attention: L });
    expect(count('add') + count('mul') + count('silu')).toBe(0);

    // Reference: the same network without passes, on the checkpoint's own weights.
    const c = readKilnCheckpoint(ckpt);
    try {
      const builder = new Builder();
      const net = builder.createNetwork();
      defineModel(net, c.model);
      const plain = builder.buildEngine(net, { target: 'cpu', weights: c.weights, model: c.model, settings, passes: [] });
      const want = logits(plain);
      const got = logits(engine);
      expect(got.length).toBe(2 * model.vocabSize);
      // Same products and sums; only f32 accumulation blocking may differ (observed 4e-7). Logits are O(1).
      let maxDiff = 0;
      got.forEach((v, i) => { maxDiff = Math.max(maxDiff, Math.abs(v - want[i]!)); });
      expect(maxDiff).toBeLessThan(1e-4);
    } finally {
      c.weights.dispose();
    }
  });

  it('checks max_input_len + max_output_len against the model, naming the flags', async () => {
    const tooLong = { ...settings, maxInputLen: model.maxPositionEmbeddings, maxOutputLen: 1 };
    const p = buildFromCheckpoint({ checkpointDir: ckpt, outputDir: path.join(tmp, 'e2'), target: 'cpu', settings: tooLong });
    await expect(p).rejects.toThrow(ConfigError);
    await expect(buildFromCheckpoint({ checkpointDir: ckpt, outputDir: path.join(tmp, 'e2'), target: 'cpu', settings: tooLong }))
      .rejects.toThrow(`--max_input_len (${model.maxPositionEmbeddings}) + --max_output_len (1) = ${model.maxPositionEmbeddings + 1} exceeds the model's max_position_embeddings (${model.maxPositionEmbeddings})`);
    expect(fs.existsSync(path.join(tmp, 'e2'))).toBe(false);
  });

  it('fails --target cuda with one sentence where the CUDA backend cannot load (no GPU), writing nothing', async () => {
    const p = buildFromCheckpoint({ checkpointDir: ckpt, outputDir: path.join(tmp, 'e3'), target: 'cuda', settings });
    await expect(p).rejects.toThrow(BackendError);
    await expect(buildFromCheckpoint({ checkpointDir: ckpt, outputDir: path.join(tmp, 'e3'), target: 'cuda', settings })).rejects.toThrow(/^CUDA backend unavailable: .*; use --target cpu$/);
    expect(fs.existsSync(path.join(tmp, 'e3'))).toBe(false);
  });
});
