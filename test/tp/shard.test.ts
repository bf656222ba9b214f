/** Rank engines on disk: exact shard shapes and contents, recorded ranks, and what loading refuses. */
import { existsSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuContext } from '../../src/backends/cpu/context.js';
import { readKilnCheckpoint } from '../../src/checkpoint/index.js';
import { loadEngine } from '../../src/engine/reader.js';
import { BackendError, ConfigError, EngineLoadError } from '../../src/errors/index.js';
import { buildTensorParallelFromCheckpoint } from '../../src/tp/build.js';
import { kiln } from '../cli/helpers.js';
import { kvSpec, prefillStep, prepareFixture, type FixtureBuild } from './helpers.js';

let fx: FixtureBuild;
beforeAll(async () => { fx = await prepareFixture('llama3-gqa'); });
afterAll(() => fx?.cleanup());

const L0 = 'model.layers.0';
const rows = (data: ArrayLike<number>, cols: number, from: number, to: number): number[] => Array.from(data).slice(from * cols, to * cols);

describe('tp=2 rank engines of llama3-gqa (4 q heads, 2 kv heads, head_dim 16, hidden 64, mlp 160)', () => {
  it('writes config.json and rank0/rank1.engine; each file records its rank', async () => {
    const dir = await fx.engine(2);
    expect(readdirSync(dir).filter((f) => f.endsWith('.engine')).sort()).toEqual(['rank0.engine', 'rank1.engine']);
    const r1 = loadEngine(dir, { rank: 1 });
    expect([r1.rank, r1.config.tpSize, loadEngine(dir).rank]).toEqual([1, 2, 0]);
    expect((r1.config as unknown as { tp: unknown }).tp).toMatchObject({ numHeadsPerRank: 2, numKvHeadsPerRank: 1, intermediatePerRank: 80, vocabParallel: false });
  });

  it('rank 1 holds exactly q heads 2-3, kv head 1, mlp channels 80-159, o/down columns to match', async () => {
    const r1 = loadEngine(await fx.engine(2), { rank: 1 });
    const ckpt = readKilnCheckpoint(fx.checkpointDir);
    try {
      const full = (n: string): ArrayLike<number> => ckpt.weights.get(n).data;
      const qkv = r1.weights.get(`${L0}.self_attn.qkv_proj.weight`);
      expect(qkv.shape).toEqual([(2 + 1 + 1) * 16, 64]);
      expect(Array.from(qkv.data)).toEqual([
        ...rows(full(`${L0}.self_attn.q_proj.weight`), 64, 32, 64),
        ...rows(full(`${L0}.self_attn.k_proj.weight`), 64, 16, 32),
        ...rows(full(`${L0}.self_attn.v_proj.weight`), 64, 16, 32),
      ]);
      const o = r1.weights.get(`${L0}.self_attn.o_proj.weight`);
      expect(o.shape).toEqual([64, 32]);
      expect(o.data[0]).toBe(full(`${L0}.self_attn.o_proj.weight`)[32]); // row 0, column 32
      expect(o.data[33]).toBe(full(`${L0}.self_attn.o_proj.weight`)[64 + 33]); // row 1, column 33
      expect(r1.weights.get(`${L0}.mlp.gate_up_proj.weight`).shape).toEqual([160, 64]);
      const down = r1.weights.get(`${L0}.mlp.down_proj.weight`);
      expect(down.shape).toEqual([64, 80]);
      expect(down.data[80 + 5]).toBe(full(`${L0}.mlp.down_proj.weight`)[160 + 80 + 5]);
      expect(r1.weights.get('model.embed_tokens.weight').shape).toEqual([256, 64]); // replicated (64 KiB < 64 MiB)
      expect(Array.from(r1.weights.get('model.norm.weight').data)).toEqual(Array.from(full('model.norm.weight')));
    } finally {
      ckpt.weights.dispose();
    }
  });

  it('rank graphs: sharded attention attrs and one all_reduce per o_proj and down_proj', async () => {
    const g = loadEngine(await fx.engine(2), { rank: 0 }).graph;
    const attn = g.nodes.filter((n) => n.op === 'attention');
    expect(attn.map((n) => [n.attrs['numHeads'], n.attrs['numKvHeads']])).toEqual([[2, 1], [2, 1]]);
    expect(g.nodes.filter((n) => n.op === 'all_reduce').map((n) => n.name)).toEqual([
      'layers.0.attn.o_proj.all_reduce', 'layers.0.mlp.down_proj.all_reduce', 'layers.1.attn.o_proj.all_reduce', 'layers.1.mlp.down_proj.all_reduce',
    ]);
    expect(g.nodes.some((n) => n.op === 'all_gather' || n.op === 'vocab_embedding')).toBe(false);
  });

  it('loading refuses ranks out of range and rank files swapped by hand', async () => {
    const dir = await fx.engine(2);
    expect(() => loadEngine(dir, { rank: 2 })).toThrow(EngineLoadError);
    expect(() => loadEngine(dir, { rank: 2 })).toThrow(/rank 2 was asked of .* an engine of 2 rank\(s\) \(tp_size 2\); ranks are 0..1/);
    const ctxDir = await fx.engine(2, 'replicate');
    renameSync(join(ctxDir, 'rank0.engine'), join(ctxDir, 'tmp.engine'));
    renameSync(join(ctxDir, 'rank1.engine'), join(ctxDir, 'rank0.engine'));
    expect(() => loadEngine(ctxDir)).toThrow(/rank0.engine records rank 1, not 0: the rank files were renamed or mixed/);
  });

  it('a rank engine run outside its group says how to run it', async () => {
    const engine = loadEngine(await fx.engine(2), { rank: 0 });
    const ctx = new CpuContext(engine, { kvCache: { ...kvSpec(engine.config.model!), numKvHeads: 1 } });
    expect(() => ctx.run(prefillStep([1, 2]))).toThrow(BackendError);
    expect(() => ctx.run(prefillStep([1, 2]))).toThrow(/belongs to a tensor-parallel engine of 2 ranks.*load the engine directory with LLM/);
  });
});

describe('tp=4 with the vocabulary split', () => {
  it('rank 3 holds vocabulary rows 192-255 of embedding and lm_head; logits are all-gathered', async () => {
    const r3 = loadEngine(await fx.engine(4, 'split'), { rank: 3 });
    const ckpt = readKilnCheckpoint(fx.checkpointDir);
    try {
      expect(Array.from(r3.weights.get('model.embed_tokens.weight').data)).toEqual(rows(ckpt.weights.get('model.embed_tokens.weight').data, 64, 192, 256));
      expect(r3.weights.get('lm_head.weight').shape).toEqual([64, 64]);
      expect(r3.weights.get(`${L0}.self_attn.qkv_proj.weight`).shape).toEqual([(1 + 1 + 1) * 16, 64]);
    } finally {
      ckpt.weights.dispose();
    }
    const g = r3.graph;
    expect(g.nodes.find((n) => n.op === 'vocab_embedding')?.attrs).toEqual({ vocabStart: 192, vocabSize: 256 });
    const last = g.nodes[g.nodes.length - 1]!;
    expect(last.op).toBe('all_gather');
    expect(g.tensors[g.outputs[0]!.tensor]!.shape).toEqual(['num_logits', 256]);
  });
});

describe('build errors and the CLI', () => {
  it('invalid splits and unsupported targets are refused before anything is written', async () => {
    const out = join(fx.root, 'bad');
    await expect(buildTensorParallelFromCheckpoint({ checkpointDir: fx.checkpointDir, outputDir: out, target: 'cpu', tpSize: 3 }))
      .rejects.toThrow(new ConfigError("--tp_size 3 does not divide the model's 4 attention heads; use a tp size that divides 4"));
    await expect(buildTensorParallelFromCheckpoint({ checkpointDir: fx.checkpointDir, outputDir: out, target: 'tpu' as 'cpu', tpSize: 2 }))
      .rejects.toThrow(new BackendError('--tp_size 2 with --target tpu: sharded engines build for --target cpu or cuda'));
    await expect(buildTensorParallelFromCheckpoint({ checkpointDir: fx.checkpointDir, outputDir: out, target: 'cuda', tpSize: 2, vocabParallel: 'split' }))
      .rejects.toThrow(/--target cuda cannot split the embedding by vocabulary yet/);
    expect(existsSync(out)).toBe(false);
  });

  it('kiln build --tp_size 2 writes both rank engines', () => {
    const out = join(fx.root, 'cli-tp2');
    const res = kiln(['build', '--checkpoint_dir', fx.checkpointDir, '--output_dir', out, '--tp_size', '2', '--max_input_len', '32', '--max_output_len', '16']);
    expect(res.stderr).toMatch(/tp 2: 2 q heads, 1 kv head\(s\), 80 mlp channels per rank; vocabulary replicated/);
    expect(res.code).toBe(0);
    expect(readdirSync(out).filter((f) => f.endsWith('.engine')).sort()).toEqual(['rank0.engine', 'rank1.engine']);
  }, 20_000);
});
