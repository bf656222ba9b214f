import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyBf16Checkpoint, prefillLogits } from './tiny-checkpoint.js';
import { buildFromCheckpoint } from '../../src/builder/build-command.js';
import { castTensor, parseBuildDtype, resolveEngineDtype } from '../../src/builder/dtype.js';
import { loadEngine } from '../../src/engine/reader.js';
import type { Engine } from '../../src/engine/types.js';
import { ConfigError } from '../../src/errors/index.js';
import { bf16BitsToF32, f32ToF16Bits } from '../../src/graph/dtype.js';
import type { ModelConfig } from '../../src/models/config.js';

let tmp = '';
let ckpt = '';
let model: ModelConfig;
const settings = { maxBatchSize: 2, maxInputLen: 32, maxOutputLen: 32, maxNumTokens: 64 };

beforeAll(async () => {
  ({ tmp, ckpt, model } = await makeTinyBf16Checkpoint('kiln-build-dtype-'));
});
afterAll(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

const logits = (engine: Engine): Float32Array => prefillLogits(engine, model);

describe('--dtype', () => {
  it('parses auto | bfloat16 | float16 and names the flag otherwise', () => {
    expect(parseBuildDtype(undefined)).toBe('auto');
    expect(parseBuildDtype('float16')).toBe('float16');
    expect(parseBuildDtype('bf16')).toBe('bfloat16');
    expect(() => parseBuildDtype('int8')).toThrow(ConfigError);
    expect(() => parseBuildDtype('int8')).toThrow("--dtype must be auto, bfloat16 or float16, got 'int8'");
  });

  it('auto keeps the checkpoint dtype, except float32 → bfloat16 for cuda', () => {
    expect(resolveEngineDtype('auto', 'float16', 'cuda')).toBe('float16');
    expect(resolveEngineDtype('auto', 'float32', 'cpu')).toBe('float32');
    expect(resolveEngineDtype('auto', 'float32', 'cuda')).toBe('bfloat16');
    expect(resolveEngineDtype('float16', 'bfloat16', 'cpu')).toBe('float16');
  });

  it('castTensor rounds to fp16 with RNE and leaves integer tensors alone', () => {
    const t = castTensor({ dtype: 'float32', shape: [3], data: Float32Array.from([1 + 2 ** -11, 1 + 3 * 2 ** -11, 70000]) }, 'float16');
    expect(t.dtype).toBe('float16');
    expect([...(t.data as Uint16Array)]).toEqual([0x3c00, 0x3c02, 0x7c00]); // ties to even; overflow → inf
    const ids = { dtype: 'int32' as const, shape: [1], data: Int32Array.from([5]) };
    expect(castTensor(ids, 'float16')).toBe(ids);
  });

  it('kiln build --target cpu --dtype float16: fp16 weights and config, runs on the CPU close to the bf16 engine', async () => {
    const out16 = path.join(tmp, 'e16'), outBf = path.join(tmp, 'ebf');
    const lines: string[] = [];
    await buildFromCheckpoint({ checkpointDir: ckpt, outputDir: out16, target: 'cpu', settings, dtype: 'float16', onLog: (l) => lines.push(l) });
    await buildFromCheckpoint({ checkpointDir: ckpt, outputDir: outBf, target: 'cpu', settings });
    expect(lines).toContain('dtype: bfloat16 checkpoint → float16 engine (float weights rounded to float16)');
    const e16 = loadEngine(out16, { target: 'cpu' }), ebf = loadEngine(outBf, { target: 'cpu' });
    expect(e16.config.build.dtype).toBe('float16');
    expect(e16.config.model?.dtype).toBe('float16');
    expect(ebf.config.build.dtype).toBe('bfloat16');
    // Round trip: every float weight is the bf16 checkpoint value rounded to fp16, bit for bit.
    for (const name of ['model.embed_tokens.weight', 'model.layers.0.self_attn.o_proj.weight', 'model.norm.weight']) {
      const a = e16.weights.get(name), b = ebf.weights.get(name);
      expect(a.dtype).toBe('float16');
      expect(b.dtype).toBe('bfloat16');
      const want = Uint16Array.from(b.data as Uint16Array, (x) => f32ToF16Bits(bf16BitsToF32(x)));
      expect(Buffer.from((a.data as Uint16Array).buffer, (a.data as Uint16Array).byteOffset, a.data.byteLength).equals(Buffer.from(want.buffer))).toBe(true);
    }
    const got = logits(e16), want = logits(ebf);
    let maxDiff = 0, maxAbs = 0;
    got.forEach((v, i) => { maxDiff = Math.max(maxDiff, Math.abs(v - want[i]!)); maxAbs = Math.max(maxAbs, Math.abs(want[i]!)); });
    // Tiny-model weights are small (|w| < 0.1), so fp16 rounding of bf16 values is exact or within 2^-11 relative.
    expect(maxDiff).toBeLessThan(1e-2 * Math.max(1, maxAbs));
  });
});
