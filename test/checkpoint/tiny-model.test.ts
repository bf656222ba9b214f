import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../src/checkpoint/safetensors/checkpoint.js';
import { writeTinyModel } from '../../src/checkpoint/tiny-model.js';
import { toFloat32 } from '../../src/graph/dtype.js';
import { loadTokenizer } from '../../src/tokenizer/index.js';

let dir: string;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-tiny-'));
  await writeTinyModel(path.join(dir, 'a'), { seed: 7 });
  await writeTinyModel(path.join(dir, 'b'), { seed: 7 });
  await writeTinyModel(path.join(dir, 'c'), { seed: 8 });
});
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('writeTinyModel', () => {
  it('writes an HF Llama 3 directory', () => {
    expect(fs.readdirSync(path.join(dir, 'a')).sort()).toEqual([
      'config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json',
    ]);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'a', 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 128, num_hidden_layers: 4, num_attention_heads: 4,
      num_key_value_heads: 2, intermediate_size: 256, vocab_size: 512, rope_theta: 10000, torch_dtype: 'bfloat16',
      rope_scaling: { rope_type: 'llama3', factor: 8 }, bos_token_id: 507, eos_token_id: [508, 511],
    });
  });

  it('is deterministic for a seed, and the seed matters', () => {
    for (const f of ['model.safetensors', 'tokenizer.json', 'config.json']) expect(sha(path.join(dir, 'b', f))).toBe(sha(path.join(dir, 'a', f)));
    expect(sha(path.join(dir, 'c', 'model.safetensors'))).not.toBe(sha(path.join(dir, 'a', 'model.safetensors')));
  });

  it('stores bf16 weights of the configured shapes with std ≈ 0.08 (norms ≈ 1)', () => {
    const ckpt = openCheckpoint(path.join(dir, 'a'));
    expect(ckpt.names().length).toBe(1 + 4 * 9 + 2);
    expect(ckpt.info('model.layers.0.self_attn.k_proj.weight')).toEqual({ dtype: 'bfloat16', shape: [64, 128] });
    expect(ckpt.info('lm_head.weight')).toEqual({ dtype: 'bfloat16', shape: [512, 128] });
    const w = toFloat32('bfloat16', ckpt.read('model.layers.2.mlp.up_proj.weight').data);
    const mean = w.reduce((a, b) => a + b, 0) / w.length;
    const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(0.005); // 32768 samples: the mean's std is 0.08/181 ≈ 0.0004
    expect(std).toBeGreaterThan(0.078);
    expect(std).toBeLessThan(0.082);
    const norm = toFloat32('bfloat16', ckpt.read('model.norm.weight').data);
    expect(Math.min(...norm)).toBeGreaterThan(0.7);
    expect(Math.max(...norm)).toBeLessThan(1.3);
    ckpt.dispose();
  });

  it('ships a tokenizer that round-trips text and a chat template', () => {
    const tok = loadTokenizer(path.join(dir, 'a'));
    const text = 'The kiln was lit at dawn. 窯に火を入れた 🔥👩🏽‍🔬';
    expect(tok.decode(tok.encode(text), { skipSpecialTokens: true })).toBe(text);
    expect(tok.encode('the village').length).toBeLessThan('the village'.length); // merges were learned
    expect(tok.hasChatTemplate()).toBe(true);
  });
});
