/**
 * Reading hand-built pre-quantized HF checkpoints (scripts/quant/make-quantized-checkpoints.ts:
 * ModelOpt FP8, compressed-tensors FP8, AutoAWQ gemm INT4, AutoGPTQ INT4) through `kiln convert`
 * gives the logits of quantizing the same float weights with `kiln build --quant` ourselves.
 * FP8: the stored codes and scales are bit-identical, so the logits are equal exactly. INT4: the
 * published layouts store scales in float16 while Kiln keeps float32, so each dequantized weight
 * differs by at most |q − z|·|s − f16(s)| ≤ 8 · s · 2⁻¹¹; through two layers this moves logits
 * (|logit| ≤ ~5 here) by ~1e-3 at most, far below what a wrong nibble order or zero offset
 * causes (> 0.1, checked by the layout unit tests), so INT4_ATOL = 5e-3.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCheckpoint, readKilnCheckpoint } from '../../src/checkpoint/index.js';
import type { Engine } from '../../src/engine/types.js';
import { CheckpointError } from '../../src/errors/index.js';
import { HAND_BUILT, makeQuantizedCheckpoints } from '../../scripts/quant/make-quantized-checkpoints.js';
import { buildEngine, compareLogits, fixtureDir, prefillLogits, promptIds } from './helpers.js';

const FIXTURE = fixtureDir('llama3-gqa');
const INT4_ATOL = 5e-3;
let tmp: string;
let dirs: Record<(typeof HAND_BUILT)[number], string>;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-quant-hf-'));
  dirs = await makeQuantizedCheckpoints(path.join(tmp, 'hf'), FIXTURE);
}, 60_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function importEngine(kind: (typeof HAND_BUILT)[number]): Promise<{ engine: Engine; quant: unknown }> {
  const out = path.join(tmp, `kiln-${kind}`);
  await convertCheckpoint({ modelDir: dirs[kind], outputDir: out, dtype: 'float32' });
  const ckpt = readKilnCheckpoint(out);
  try {
    const engine = buildEngine(out, undefined, { model: ckpt.model, weights: ckpt.weights });
    return { engine, quant: JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).quant };
  } finally {
    ckpt.weights.dispose();
  }
}

const ids = promptIds(40, 256, 3);

describe('pre-quantized HF checkpoints', () => {
  it('ModelOpt FP8 (per-tensor, static input scales) equals kiln build --quant fp8 exactly', async () => {
    const { engine, quant } = await importEngine('fp8-modelopt');
    expect(quant).toMatchObject({ format: 'fp8', source: 'modelopt' });
    expect(engine.graph.nodes.filter((n) => n.op === 'fp8_matmul').every((n) => n.attrs['activationScale'] === 'static')).toBe(true);
    const own = buildEngine(FIXTURE, { format: 'fp8' });
    expect(Array.from(prefillLogits(engine, ids))).toEqual(Array.from(prefillLogits(own, ids)));
  });

  it('ModelOpt KV cache scales are used for --kv_cache_dtype fp8 (equal to our calibrated ones)', async () => {
    const out = path.join(tmp, 'kiln-fp8-modelopt-kv');
    await convertCheckpoint({ modelDir: dirs['fp8-modelopt'], outputDir: out, dtype: 'float32' });
    const ckpt = readKilnCheckpoint(out);
    const log: string[] = [];
    let engine: Engine;
    try {
      engine = buildEngine(out, { kvCacheDtype: 'fp8' }, { model: ckpt.model, weights: ckpt.weights, log });
    } finally {
      ckpt.weights.dispose();
    }
    expect(log.some((l) => l.startsWith('fp8 KV cache: from the checkpoint'))).toBe(true);
    expect(log.some((l) => l.startsWith('calibration:'))).toBe(false);
    const own = buildEngine(FIXTURE, { format: 'fp8', kvCacheDtype: 'fp8' });
    const scales = (e: Engine): unknown => e.graph.nodes.filter((n) => n.op === 'attention').map((n) => [n.attrs['kScale'], n.attrs['vScale']]);
    expect(scales(engine)).toEqual(scales(own));
    expect(scales(own)).not.toEqual([[1, 1], [1, 1]]);
    expect(Array.from(prefillLogits(engine, ids, 'fp8e4m3'))).toEqual(Array.from(prefillLogits(own, ids, 'fp8e4m3')));
  });

  it('compressed-tensors FP8 (per-channel, dynamic) equals --fp8_weight_scale channel --fp8_activation dynamic exactly', async () => {
    const { engine } = await importEngine('fp8-compressed-tensors');
    expect(engine.graph.nodes.filter((n) => n.op === 'fp8_matmul')).toHaveLength(14);
    const own = buildEngine(FIXTURE, { format: 'fp8', fp8WeightScale: 'channel', fp8Activation: 'dynamic' });
    expect(Array.from(prefillLogits(engine, ids))).toEqual(Array.from(prefillLogits(own, ids)));
  });

  for (const kind of ['awq', 'gptq'] as const) {
    it(`${kind} INT4 matches kiln build --quant int4_wo (group 32) within ${INT4_ATOL}`, async () => {
      const { engine, quant } = await importEngine(kind);
      expect(quant).toMatchObject({ format: 'int4_wo', source: kind, groupSize: 32 });
      const wo = engine.graph.nodes.filter((n) => n.op === 'wo_matmul');
      expect(wo).toHaveLength(14);
      expect(wo.every((n) => n.attrs['bits'] === 4 && n.attrs['groupSize'] === 32 && n.attrs['hasZeros'] === true)).toBe(true);
      const own = buildEngine(FIXTURE, { format: 'int4_wo', groupSize: 32 });
      const a = compareLogits(prefillLogits(own, ids), prefillLogits(engine, ids), 256);
      expect(a.maxAbs).toBeLessThanOrEqual(INT4_ATOL);
      expect(a.top1).toBe(1);
      if (kind === 'awq') {
        // Calibrating an imported checkpoint (fp8 KV scales) runs on its dequantized float view.
        const out = path.join(tmp, `kiln-${kind}`);
        const ckpt = readKilnCheckpoint(out);
        try {
          const kv = buildEngine(out, { kvCacheDtype: 'fp8', calibSize: 2 }, { model: ckpt.model, weights: ckpt.weights });
          const scales = kv.graph.nodes.filter((n) => n.op === 'attention').map((n) => n.attrs['kScale'] as number);
          expect(scales.every((x) => x > 0 && x !== 1)).toBe(true);
          expect(compareLogits(prefillLogits(engine, ids), prefillLogits(kv, ids, 'fp8e4m3'), 256).top1).toBeGreaterThan(0.7);
        } finally {
          ckpt.weights.dispose();
        }
      }
    });
  }

  it('refuses GPTQ act-order, 3-bit and block-wise FP8, naming the tensor or setting', async () => {
    const g = path.join(tmp, 'gptq-actorder');
    fs.cpSync(dirs.gptq, g, { recursive: true });
    const { writeSafetensors, openCheckpoint } = await import('../../src/checkpoint/index.js');
    const src = openCheckpoint(dirs.gptq);
    const entries = src.names().map((name) => {
      const t = src.read(name);
      const data = name === 'model.layers.0.self_attn.q_proj.g_idx' ? Int32Array.from(t.data as Int32Array).reverse() : t.data;
      return { name, dtype: t.dtype, shape: t.shape, data };
    });
    src.dispose();
    await writeSafetensors(path.join(g, 'model.safetensors'), entries);
    const convert = (dir: string): Promise<unknown> => convertCheckpoint({ modelDir: dir, outputDir: path.join(tmp, 'bad'), dtype: 'float32' });
    await expect(convert(g)).rejects.toThrow(/'model\.layers\.0\.self_attn\.q_proj\.g_idx'.*act-order/);
    await expect(convert(g)).rejects.toBeInstanceOf(CheckpointError);
    const cfg = JSON.parse(fs.readFileSync(path.join(dirs.gptq, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(g, 'config.json'), JSON.stringify({ ...cfg, quantization_config: { ...cfg.quantization_config, bits: 3 } }));
    await expect(convert(g)).rejects.toThrow(/3 bits/);
    const f = path.join(tmp, 'fp8-block');
    fs.cpSync(dirs['fp8-modelopt'], f, { recursive: true });
    const fcfg = JSON.parse(fs.readFileSync(path.join(f, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(f, 'config.json'), JSON.stringify({ ...fcfg, quantization_config: { quant_method: 'fp8', weight_block_size: [128, 128] } }));
    await expect(convert(f)).rejects.toThrow(/block-wise FP8/);
  });
});
