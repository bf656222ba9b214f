import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCheckpoint } from '../../src/checkpoint/convert.js';
import { readKilnCheckpoint } from '../../src/checkpoint/kiln-checkpoint.js';
import { openCheckpoint } from '../../src/checkpoint/safetensors/checkpoint.js';
import { writeSafetensors, type WriteEntry } from '../../src/checkpoint/safetensors/writer.js';
import { writeTinyModel } from '../../src/checkpoint/tiny-model.js';
import { f32ToBf16Bits, f32ToF16Bits, toFloat32 } from '../../src/graph/dtype.js';
import { CheckpointError } from '../../src/errors/index.js';

let root: string;
let hf: string;
beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-convert-'));
  hf = path.join(root, 'hf');
  await writeTinyModel(hf, { seed: 3, dtype: 'bfloat16' });
});
afterAll(() => { fs.rmSync(root, { recursive: true, force: true }); });

/** A copy of the tiny model whose tensors and config.json are edited. */
async function variant(name: string, edit: {
  tensors?: (entries: WriteEntry[]) => WriteEntry[]; config?: (c: Record<string, unknown>) => void; dtype?: 'float32'; maxShardBytes?: number;
}): Promise<string> {
  const dir = path.join(root, name);
  await writeTinyModel(dir, { seed: 3, ...(edit.dtype ? { dtype: edit.dtype } : {}) });
  const src = openCheckpoint(path.join(dir, 'model.safetensors'));
  const entries: WriteEntry[] = src.names().map((n) => ({ name: n, dtype: src.info(n).dtype, shape: src.info(n).shape, data: src.read(n).data }));
  src.dispose();
  if (edit.maxShardBytes) fs.rmSync(path.join(dir, 'model.safetensors'));
  await writeSafetensors(path.join(dir, 'model.safetensors'), edit.tensors ? edit.tensors(entries) : entries, edit.maxShardBytes ? { maxShardBytes: edit.maxShardBytes } : {});
  if (edit.config) {
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    edit.config(config);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  }
  return dir;
}

function errorOf(fn: () => unknown): Error {
  try { fn(); } catch (e) { return e as Error; }
  throw new Error('expected an error');
}

const leftovers = () => fs.readdirSync(root).filter((f) => f.includes('kiln-tmp') || f.includes('kiln-old'));

describe('convertCheckpoint', () => {
  it('converts bf16 → float32 exactly, copies tokenizer files and writes the Kiln config', async () => {
    const out = path.join(root, 'ckpt32');
    const progress: [number, number, string][] = [];
    const result = await convertCheckpoint({ modelDir: hf, outputDir: out, dtype: 'float32', onProgress: (d, t, n) => progress.push([d, t, n]) });
    expect(result.numTensors).toBe(39);
    expect(progress.length).toBe(39);
    expect(progress.at(-1)).toEqual([39, 39, 'lm_head.weight']);
    expect(fs.readdirSync(out).sort()).toEqual(['config.json', 'generation_config.json', 'rank0.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(config.kilnCheckpoint).toBe(1);
    expect(config.model).toMatchObject({ dtype: 'float32', hiddenSize: 128, numKvHeads: 2, vocabSize: 512, architecture: 'LlamaForCausalLM' });
    expect(config.source).toMatchObject({ format: 'huggingface', modelDir: hf, dtype: 'bfloat16', files: ['model.safetensors'] });
    const ckpt = readKilnCheckpoint(out);
    const src = openCheckpoint(hf);
    expect([...ckpt.weights.names()].sort()).toEqual([...src.names()].sort());
    const name = 'model.layers.1.self_attn.q_proj.weight';
    expect(ckpt.weights.info(name)).toEqual({ dtype: 'float32', shape: [128, 128] });
    expect(ckpt.weights.get(name).data).toEqual(toFloat32('bfloat16', src.read(name).data));
    expect(ckpt.model.dtype).toBe('float32');
    ckpt.weights.dispose();
    src.dispose();
    expect(leftovers()).toEqual([]);
  });

  it('rounds float32 → bf16 / f16 to nearest even', async () => {
    const f32 = await variant('f32', { dtype: 'float32' });
    const src = openCheckpoint(f32);
    const w = src.read('model.embed_tokens.weight').data as Float32Array;
    for (const [dtype, enc] of [['bfloat16', f32ToBf16Bits], ['float16', f32ToF16Bits]] as const) {
      const out = path.join(root, `ckpt-${dtype}`);
      await convertCheckpoint({ modelDir: f32, outputDir: out, dtype });
      const ckpt = readKilnCheckpoint(out);
      const t = ckpt.weights.read('model.embed_tokens.weight');
      expect(t.dtype).toBe(dtype);
      expect(t.data).toEqual(Uint16Array.from(w, enc));
      ckpt.weights.dispose();
    }
    src.dispose();
  });

  it('reads a sharded source through model.safetensors.index.json', async () => {
    const dir = await variant('sharded', { maxShardBytes: 1 << 20 });
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('model'))).toEqual([
      'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json',
    ]);
    const result = await convertCheckpoint({ modelDir: dir, outputDir: path.join(root, 'out-sharded'), dtype: 'bfloat16' });
    expect(result.numTensors).toBe(39);
    const a = readKilnCheckpoint(path.join(root, 'out-sharded'));
    const b = openCheckpoint(hf);
    for (const n of ['model.embed_tokens.weight', 'model.layers.3.mlp.down_proj.weight', 'lm_head.weight']) expect(a.weights.get(n).data).toEqual(b.read(n).data);
    a.weights.dispose();
    b.dispose();
  });

  it('names a missing tensor with its expected shape, and writes nothing', async () => {
    const dir = await variant('missing', { tensors: (e) => e.filter((t) => t.name !== 'model.layers.2.mlp.down_proj.weight') });
    const out = path.join(root, 'out-missing');
    await expect(convertCheckpoint({ modelDir: dir, outputDir: out, dtype: 'float32' }))
      .rejects.toThrow(/missing tensor 'model\.layers\.2\.mlp\.down_proj\.weight' \(expected shape \[128, 256\]\)/);
    expect(fs.existsSync(out)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('names a tensor of the wrong shape with both shapes', async () => {
    const dir = await variant('shape', { tensors: (e) => e.map((t) => (t.name === 'model.layers.0.self_attn.k_proj.weight' ? { ...t, shape: [128, 64] } : t)) });
    await expect(convertCheckpoint({ modelDir: dir, outputDir: path.join(root, 'out-shape'), dtype: 'float32' }))
      .rejects.toThrow(/'model\.layers\.0\.self_attn\.k_proj\.weight' .* has shape \[128, 64\], expected \[64, 128\]/);
  });

  it('skips rotary_emb.inv_freq and accepts tied embeddings without lm_head', async () => {
    const dir = await variant('tied', {
      tensors: (e) => [...e.filter((t) => t.name !== 'lm_head.weight'), { name: 'model.layers.0.self_attn.rotary_emb.inv_freq', dtype: 'float32', shape: [16], data: new Float32Array(16) }],
      config: (c) => { c.tie_word_embeddings = true; },
    });
    const result = await convertCheckpoint({ modelDir: dir, outputDir: path.join(root, 'out-tied'), dtype: 'float32' });
    expect(result.skipped).toEqual(['model.layers.0.self_attn.rotary_emb.inv_freq']);
    expect(result.numTensors).toBe(38);
    expect(result.model.tieWordEmbeddings).toBe(true);
  });

  it('refuses tensors the model does not use', async () => {
    const dir = await variant('extra', { tensors: (e) => [...e, { name: 'model.layers.0.mlp.gate_proj.bias', dtype: 'float32', shape: [256], data: new Float32Array(256) }] });
    await expect(convertCheckpoint({ modelDir: dir, outputDir: path.join(root, 'out-extra'), dtype: 'float32' }))
      .rejects.toThrow(/does not use: 'model\.layers\.0\.mlp\.gate_proj\.bias'/);
  });

  it('asks for safetensors when the directory has only pytorch_model.bin', async () => {
    const dir = path.join(root, 'bin');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(hf, 'config.json'), path.join(dir, 'config.json'));
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'pickle');
    await expect(convertCheckpoint({ modelDir: dir, outputDir: path.join(root, 'out-bin'), dtype: 'float32' }))
      .rejects.toThrow(/safe_serialization=True/);
  });

  it('replaces an older checkpoint but never an unrelated directory', async () => {
    const out = path.join(root, 'replace');
    await convertCheckpoint({ modelDir: hf, outputDir: out, dtype: 'float16' });
    await convertCheckpoint({ modelDir: hf, outputDir: out, dtype: 'bfloat16' });
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).model.dtype).toBe('bfloat16');
    const precious = path.join(root, 'precious');
    fs.mkdirSync(precious);
    fs.writeFileSync(path.join(precious, 'notes.txt'), 'keep me');
    await expect(convertCheckpoint({ modelDir: hf, outputDir: precious, dtype: 'float32' })).rejects.toThrow(/refusing to replace/);
    expect(fs.readdirSync(precious)).toEqual(['notes.txt']);
    expect(leftovers()).toEqual([]);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`leaves nothing behind when ${signal} arrives mid-conversion`, () => {
      const out = path.join(root, `out-${signal}`);
      const child = fileURLToPath(new URL('./interrupt-child.ts', import.meta.url));
      const r = spawnSync(process.execPath, ['--import', 'tsx', child, hf, out, signal], { encoding: 'utf8', timeout: 60_000 });
      expect(r.stdout).toContain(`sending ${signal}`);
      expect(r.stdout).not.toContain('finished');
      expect(r.signal).toBe(signal);
      expect(fs.existsSync(out)).toBe(false);
      expect(leftovers()).toEqual([]);
    });
  }
});

describe('readKilnCheckpoint', () => {
  it('tells to run kiln convert on an HF directory, and on a missing one', () => {
    const hfErr = errorOf(() => readKilnCheckpoint(hf));
    expect(hfErr).toBeInstanceOf(CheckpointError);
    expect(hfErr.message).toMatch(/is a Hugging Face model directory, not a Kiln checkpoint; run kiln convert first/);
    expect(errorOf(() => readKilnCheckpoint(path.join(root, 'nope'))).message).toMatch(/does not exist; create it with: kiln convert/);
  });

  it('rejects another checkpoint version and a broken model section', () => {
    const dir = path.join(root, 'v2');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ kilnCheckpoint: 2, model: {} }));
    expect(errorOf(() => readKilnCheckpoint(dir)).message).toMatch(/version 2, but this Kiln reads version 1/);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ kilnCheckpoint: 1, model: { family: 'gpt2' } }));
    expect(errorOf(() => readKilnCheckpoint(dir)).message).toMatch(/model\.family is invalid/);
  });
});
