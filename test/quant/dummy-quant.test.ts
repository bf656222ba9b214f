/**
 * `kiln build --load_format dummy --quant …`: the quantized graph over placeholder weights, and the
 * seeded quantized dummy weights (backends/dummy-weights.ts) the backends fill at load.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CpuContext } from '../../src/backends/cpu/index.js';
import { DUMMY_FP8_MUL, DUMMY_WO_MUL, dummyCodes, dummyRule, dummyValues } from '../../src/backends/dummy-weights.js';
import type { HostTensor, StepInputs } from '../../src/backends/types.js';
import { buildFromCheckpoint } from '../../src/builder/build-command.js';
import { loadEngine } from '../../src/engine/reader.js';
import { ConfigError } from '../../src/errors/index.js';
import { fp8e4m3BitsToF32 } from '../../src/graph/dtype.js';
import { dequantizeWo } from '../../src/quant/numerics.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-dummy-quant-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const HF_DIR = path.join('test', 'fixtures', 'models', 'llama3-gqa');
const settings = { maxInputLen: 64, maxOutputLen: 64, maxBatchSize: 2, maxNumTokens: 64 };
const BASE = 'model.layers.0.mlp.down_proj';

const std = (v: ArrayLike<number>): number => {
  let s = 0, s2 = 0;
  for (let i = 0; i < v.length; i++) { s += v[i]!; s2 += v[i]! ** 2; }
  return Math.sqrt(s2 / v.length - (s / v.length) ** 2);
};

describe('quantized dummy weights', () => {
  const n = 64, k = 1024; // 65,536 elements: the sample std's own std is ≈ 0.02 / √(2 · 65536) ≈ 5.5e-5

  it('fp8: e4m3 codes that are never NaN, dequantizing (code · per-tensor scale) to std 0.02', () => {
    const rule = dummyRule(`${BASE}.qweight`, 'fp8e4m3', 2);
    expect(rule).toEqual({ kind: 'codes', format: 'fp8', mul: DUMMY_FP8_MUL });
    const codes = dummyCodes(9, `${BASE}.qweight`, n * k, rule as Extract<typeof rule, { kind: 'codes' }>);
    expect(codes.some((c) => (c & 0x7f) === 0x7f)).toBe(false);
    const scale = dummyValues(9, `${BASE}.weight_scale`, 1, { dtype: 'float32', shape: [1] })[0]!;
    expect(scale).toBe(Math.fround(0.02 / DUMMY_FP8_MUL));
    const w = Float32Array.from(codes, (c) => fp8e4m3BitsToF32(c) * scale);
    // e4m3 rounding (3 mantissa bits) adds ~1.3% relative noise, saturation at 4σ removes a little.
    expect(Math.abs(std(w) - 0.02)).toBeLessThan(4e-4);
    // The CPU holds the decoded values.
    expect(dummyValues(9, `${BASE}.qweight`, 8, { dtype: 'fp8e4m3', shape: [n, k] })).toEqual(Float32Array.from(codes.subarray(0, 8), fp8e4m3BitsToF32));
  });

  it('int8: codes in [-127, 127], group scales per row, dequantized std 0.02', () => {
    const codes = dummyValues(9, `${BASE}.qweight`, n * k, { dtype: 'int8', shape: [n, k] });
    expect(codes.every((c) => Number.isInteger(c) && c >= -127 && c <= 127)).toBe(true);
    const scales = dummyValues(9, `${BASE}.weight_scale`, n * 8, { dtype: 'float32', shape: [n, 8] });
    expect(scales[0]).toBe(Math.fround(0.02 / DUMMY_WO_MUL));
    const w = dequantizeWo({ bits: 8, groupSize: 128, n, k, qweight: codes, scales });
    // Integer rounding of z · 7/3 adds variance (1/12)/(49/9) ≈ 1.5% → std ≈ 1.008 · 0.02; clipping at ±127 is never hit.
    expect(Math.abs(std(w) / 0.02 - 1.0077)).toBeLessThan(0.01);
  });

  it('int4: packed nibbles (low = even column), zero point 8, dequantized std 0.02', () => {
    const packed = dummyValues(9, `${BASE}.qweight`, n * (k / 2), { dtype: 'uint8', shape: [n, k / 2] });
    expect(packed.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)).toBe(true);
    const rule = dummyRule(`${BASE}.qweight`, 'uint8', 2) as Extract<ReturnType<typeof dummyRule>, { kind: 'codes' }>;
    expect(rule.format).toBe('int4');
    const scales = dummyValues(9, `${BASE}.weight_scale`, n * 8, { dtype: 'float32', shape: [n, 8] });
    const w = dequantizeWo({ bits: 4, groupSize: 128, n, k, qweight: packed, scales });
    // Clipping to [-8, 7] at ±3σ lowers the std by ~1.5%, rounding raises it by ~0.8%.
    expect(Math.abs(std(w) - 0.02)).toBeLessThan(6e-4);
    expect(dummyRule(`${BASE}.zeros`, 'uint8', 2)).toEqual({ kind: 'byte', value: 8 });
    expect(dummyRule(`${BASE}.input_scale`, 'float32', 1)).toEqual({ kind: 'f32', value: Math.fround(16 / 448) });
    expect(dummyRule(`${BASE}.weight`, 'bfloat16', 2)).toEqual({ kind: 'normal', mean: 0, std: 0.02 });
  });
});

function step(ids: number[]): StepInputs {
  const i32 = (a: number[]): HostTensor => ({ dtype: 'int32', shape: [a.length], data: Int32Array.from(a) });
  return {
    tensors: { input_ids: i32(ids), positions: i32(ids.map((_, i) => i)), logits_indices: i32([ids.length - 1]) },
    attention: { seqs: [{ queryStart: 0, numQueryTokens: ids.length, contextLen: ids.length, blockTable: Int32Array.from([0, 1]) }], slotMapping: Int32Array.from(ids.map((_, i) => i)) },
  };
}

describe('--load_format dummy --quant', () => {
  for (const [format, op, qdtype] of [['int4_wo', 'wo_matmul', 'uint8'], ['int8_wo', 'wo_matmul', 'int8'], ['fp8', 'fp8_matmul', 'fp8e4m3']] as const) {
    it(`${format}: a quantized engine with no weight bytes that runs on the CPU backend`, async () => {
      const out = path.join(tmp, format);
      const res = await buildFromCheckpoint({ checkpointDir: HF_DIR, outputDir: out, target: 'cpu', settings, loadFormat: 'dummy', dummySeed: 3, quant: { format } });
      expect(res.config.quant).toMatchObject({ format, source: 'dummy' });
      const engine = loadEngine(out);
      expect(engine.sectionTable.filter((s) => s.kind === 'weight')).toEqual([]);
      // 2 layers × 7 linears quantized; the LM head stays a plain matmul.
      expect(engine.graph.nodes.filter((n) => n.op === op)).toHaveLength(14);
      expect(engine.graph.tensors.find((t) => t.name === 'model.layers.1.mlp.up_proj.qweight')?.dtype).toBe(qdtype);
      const m = engine.config.model!;
      const ctx = new CpuContext(engine, { kvCache: { numLayers: m.numLayers, numKvHeads: m.numKvHeads, headDim: m.headDim, numBlocks: 2, tokensPerBlock: 32, dtype: 'float32' } });
      try {
        const logits = ctx.run(step([5, 17, 99, 3]))['logits']!.data as Float32Array;
        expect(logits.length).toBe(256);
        expect(logits.every(Number.isFinite)).toBe(true);
        expect(std(logits)).toBeGreaterThan(1e-3); // activations neither vanish nor blow up
        expect(std(logits)).toBeLessThan(10);
      } finally {
        ctx.dispose();
      }
    });
  }

  it('refuses --awq (no real weights to search scales on)', async () => {
    await expect(buildFromCheckpoint({ checkpointDir: HF_DIR, outputDir: path.join(tmp, 'awq'), target: 'cpu', settings, loadFormat: 'dummy', quant: { format: 'int4_wo', awq: true } }))
      .rejects.toThrow(ConfigError);
  });
});
