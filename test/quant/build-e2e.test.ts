/**
 * End to end on a saved engine: kiln convert (bf16) → buildFromCheckpoint with quantization flags
 * → engine file → LLM. Checks the size report, EngineConfig.quant, that the quantized weights
 * survive the engine file, and the fp8 KV cache budget: 1 byte per element, so a byte budget
 * holds 2× the tokens of bf16 accounting (4× of the CPU backend's float32 accounting).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildFromCheckpoint } from '../../src/builder/build-command.js';
import { convertCheckpoint } from '../../src/checkpoint/index.js';
import { loadEngine } from '../../src/engine/reader.js';
import { ConfigError } from '../../src/errors/index.js';
import { kvSpecForEngine, LLM } from '../../src/runtime/llm.js';
import { parseQuantFlags } from '../../src/quant/flags.js';
import { main } from '../../src/cli/main.js';
import { fixtureDir } from './helpers.js';

const SETTINGS = { maxBatchSize: 2, maxInputLen: 32, maxOutputLen: 16, maxNumTokens: 64 };
let tmp: string, ckpt: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-quant-e2e-'));
  ckpt = path.join(tmp, 'ckpt');
  await convertCheckpoint({ modelDir: fixtureDir('unseen-llama'), outputDir: ckpt, dtype: 'bfloat16' });
}, 30_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function build(name: string, quant?: Parameters<typeof buildFromCheckpoint>[0]['quant']): Promise<{ dir: string; log: string[] }> {
  const log: string[] = [];
  const dir = path.join(tmp, name);
  await buildFromCheckpoint({ checkpointDir: ckpt, outputDir: dir, target: 'cpu', settings: SETTINGS, onLog: (l) => log.push(l), ...(quant ? { quant } : {}) });
  return { dir, log };
}

describe('quantized builds end to end', () => {
  it('int4_wo + AWQ + fp8 KV: report, engine file, generation', async () => {
    const { dir, log } = await build('int4', { format: 'int4_wo', groupSize: 64, awq: true, calibSize: 4, kvCacheDtype: 'fp8' });
    const at = log.indexOf('quantization: bytes per component, before → after');
    expect(at).toBeGreaterThan(0);
    expect(log.slice(at + 1, at + 8).map((l) => l.trim().split(':')[0])).toEqual(['embeddings', 'attention', 'mlp', 'lm_head', 'other', 'total weights', 'KV cache per token']);
    // attention: 4 · 80 · 80 bf16 per layer → int4 (K/2 bytes) + f32 scales [80, 2] + f32 pre_scale [80].
    expect(log[at + 2]).toBe(`  attention: 100.0 KiB → ${((2 * 4 * (80 * 40 + 80 * 2 * 4 + 80 * 4)) / 1024).toFixed(1)} KiB (${((100 * (80 * 40 + 640 + 320)) / (80 * 80 * 2)).toFixed(1)}%)`);
    expect(log[at + 7]).toBe('  KV cache per token: 640 B → 320 B (50.0%)'); // K and V · 2 layers · 5 heads · 16 · (2 → 1 byte)
    const engine = loadEngine(dir);
    expect(engine.config.quant).toMatchObject({ format: 'int4_wo', groupSize: 64, awq: true, kvCacheDtype: 'fp8e4m3', source: 'kiln' });
    expect(engine.weights.get('model.layers.1.mlp.down_proj.qweight').dtype).toBe('uint8');
    const llm = new LLM({ engineDir: dir, kvCacheBytes: 1 << 20 });
    try {
      const [res] = await llm.generate(['hello world'], { maxNewTokens: 6, temperature: 0, ignoreEos: true });
      expect(res!.outputs[0]!.tokenIds).toHaveLength(6);
    } finally {
      llm.dispose();
    }
  }, 30_000);

  it('fp8 KV cache holds 2× the tokens of bf16 (and 4× of CPU float32) for the same budget', async () => {
    const fp8 = loadEngine((await build('kv-fp8', { kvCacheDtype: 'fp8', calibSize: 0 })).dir);
    const plain = loadEngine((await build('plain')).dir);
    expect(plain.config.build.dtype).toBe('bfloat16');
    const budget = 16 * 1024; // below the build's cap of maxBatchSize · ceil(48 / 4) = 24 blocks
    const blocks = (e: typeof fp8, backend: 'cpu' | 'cuda'): number => kvSpecForEngine(e, backend, budget, 4).numBlocks;
    expect(kvSpecForEngine(fp8, 'cuda', budget, 4).dtype).toBe('fp8e4m3');
    expect(blocks(fp8, 'cuda')).toBe(2 * blocks(plain, 'cuda'));
    expect(blocks(fp8, 'cpu')).toBe(4 * blocks(plain, 'cpu'));
    expect(blocks(plain, 'cuda')).toBe(Math.floor(budget / (4 * 640)));
    // Uncalibrated fp8 KV scales are 1.0 (TensorRT-LLM's default).
    expect(fp8.graph.nodes.filter((n) => n.op === 'attention').map((n) => [n.attrs['kScale'], n.attrs['vScale']])).toEqual([[1, 1], [1, 1]]);
  }, 30_000);

  it('kiln build --quant fp8 --fp8_weight_scale channel --kv_cache_dtype fp8 (the CLI)', async () => {
    const out = path.join(tmp, 'cli-fp8');
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => { lines.push(String(chunk)); return true; });
    let code: number, bad: number;
    try {
      code = await main(['build', '--checkpoint_dir', ckpt, '--output_dir', out, '--max_input_len', '32', '--max_output_len', '16', '--max_batch_size', '2',
        '--quant', 'fp8', '--fp8_weight_scale', 'channel', '--calib_size', '2', '--kv_cache_dtype', 'fp8']);
      bad = await main(['build', '--checkpoint_dir', ckpt, '--output_dir', path.join(tmp, 'cli-bad'), '--quant', 'int4_wo', '--group_size', '32']);
    } finally {
      spy.mockRestore();
    }
    const text = lines.join('');
    expect(code).toBe(0);
    expect(text).toContain('[build] quantize: 14 linears → fp8_matmul (kept unquantized: model.embed_tokens.weight, lm_head.weight); fp8 KV cache on 2 attention layers');
    expect(text).toContain("[build]   mlp: 195.0 KiB → 101.4 KiB (52.0%)"); // 3 · 208 · 80 · 2 layers: bf16 → fp8 + f32 per-channel scales
    expect(loadEngine(out).config.quant).toMatchObject({ format: 'fp8', fp8WeightScale: 'channel', fp8Activation: 'static', kvCacheDtype: 'fp8e4m3' });
    expect(bad).not.toBe(0);
    expect(text).toContain('--group_size "32": must be 64 or 128');
  }, 30_000);

  it('flag errors name the flag', () => {
    expect(() => parseQuantFlags({ quant: 'int3' })).toThrow(/--quant "int3"/);
    expect(() => parseQuantFlags({ group_size: '100' })).toThrow(/--group_size "100": must be 64 or 128/);
    expect(parseQuantFlags({ quant: 'fp8', group_size: '64', calib_size: '0', fp8_activation: 'dynamic' })).toEqual({ format: 'fp8', groupSize: 64, calibSize: 0, fp8Activation: 'dynamic' });
  });

  it('refuses options that cannot work', async () => {
    await expect(build('bad1', { format: 'fp8', calibSize: 0 })).rejects.toThrow(/static fp8 activation scales need calibration/);
    await expect(build('bad2', { format: 'fp8', awq: true })).rejects.toBeInstanceOf(ConfigError);
  });
});
