/** `kiln build --load_format dummy`: from config.json alone, no weight sections, seeded weights at load. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CpuContext } from '../../src/backends/cpu/index.js';
import { dummyValues } from '../../src/backends/dummy-weights.js';
import type { HostTensor, StepInputs } from '../../src/backends/types.js';
import { buildFromCheckpoint } from '../../src/builder/build-command.js';
import { loadWeights } from '../../src/backends/cpu/weights.js';
import type { Engine } from '../../src/engine/types.js';
import { loadEngine } from '../../src/engine/reader.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-dummy-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const HF_DIR = path.join('test', 'fixtures', 'models', 'llama3-gqa');
const settings = { maxInputLen: 64, maxOutputLen: 64, maxBatchSize: 2, maxNumTokens: 64 };

function step(ids: number[]): StepInputs {
  const i32 = (a: number[]): HostTensor => ({ dtype: 'int32', shape: [a.length], data: Int32Array.from(a) });
  return {
    tensors: { input_ids: i32(ids), positions: i32(ids.map((_, i) => i)), logits_indices: i32([ids.length - 1]) },
    attention: { seqs: [{ queryStart: 0, numQueryTokens: ids.length, contextLen: ids.length, blockTable: Int32Array.from([0, 1]) }], slotMapping: Int32Array.from(ids.map((_, i) => i)) },
  };
}

function logitsOf(engine: Engine): Float32Array {
  const m = engine.config.model!;
  const ctx = new CpuContext(engine, { kvCache: { numLayers: m.numLayers, numKvHeads: m.numKvHeads, headDim: m.headDim, numBlocks: 2, tokensPerBlock: 32, dtype: 'float32' } });
  try {
    return ctx.run(step([5, 17, 99, 3]))['logits']!.data as Float32Array;
  } finally {
    ctx.dispose();
  }
}

describe('--load_format dummy', () => {
  it('builds from an HF config.json with no weight sections and records the seed', async () => {
    const out = path.join(tmp, 'engine');
    const res = await buildFromCheckpoint({ checkpointDir: HF_DIR, outputDir: out, target: 'cpu', settings, loadFormat: 'dummy', dummySeed: 5 });
    expect(res.config.dummyWeights).toEqual({ seed: 5 });
    const engine = loadEngine(out);
    expect(engine.config.dummyWeights).toEqual({ seed: 5 });
    expect(engine.sectionTable.filter((s) => s.kind === 'weight')).toEqual([]);
    expect(fs.statSync(path.join(out, 'rank0.engine')).size).toBeLessThan(64 * 1024);
  });

  it('runs on the CPU with every graph weight filled by dummyValues(seed, name)', () => {
    const engine = loadEngine(path.join(tmp, 'engine'));
    const weights = loadWeights(engine.graph, engine.weights, 5);
    const defs = engine.graph.tensors.filter((t) => t.kind === 'weight');
    expect(defs.map((t) => t.name)).toContain('model.layers.0.self_attn.qkv_proj.weight');
    for (const t of defs) {
      const buf = weights.plain.get(t.id)!;
      expect(buf.data).toEqual(dummyValues(5, t.name!, buf.data.length));
    }
    const logits = logitsOf(engine);
    expect(logits.length).toBe(256);
    expect(logits.every(Number.isFinite)).toBe(true);
  });
});
