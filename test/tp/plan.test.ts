import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/index.js';
import { parseHfConfig } from '../../src/models/hf-config.js';
import type { ModelConfig } from '../../src/models/config.js';
import { tryParseMpiEnv } from '../../src/tp/mpi-env.js';
import { VOCAB_SPLIT_MIN_BYTES, checkTpFitsDevices, createTpPlan, rankSlices } from '../../src/tp/plan.js';
import { sliceWeight } from '../../src/tp/shard-weights.js';
import { FIXTURES } from './helpers.js';

const fixture = (name: string): ModelConfig => parseHfConfig(JSON.parse(readFileSync(join(FIXTURES, name, 'config.json'), 'utf8')), name);
const gqa = fixture('llama3-gqa'); // 4 q heads, 2 kv heads, intermediate 160, vocab 256
const mqa = fixture('mistral-mqa'); // 4 q heads, 1 kv head

describe('tp plans', () => {
  it('llama3-gqa: tp=2 splits kv heads, tp=4 gives each pair of ranks one replicated kv head', () => {
    expect(createTpPlan(gqa, 2)).toEqual({ tpSize: 2, numHeadsPerRank: 2, numKvHeadsPerRank: 1, kvReplicated: false, intermediatePerRank: 80, vocabParallel: false, vocabPerRank: 256 });
    const p4 = createTpPlan(gqa, 4);
    expect([p4.numHeadsPerRank, p4.numKvHeadsPerRank, p4.kvReplicated, p4.intermediatePerRank]).toEqual([1, 1, true, 40]);
    // q head h reads kv head floor(h / 2): ranks 0,1 → kv 0; ranks 2,3 → kv 1
    expect([0, 1, 2, 3].map((r) => rankSlices(gqa, p4, r).kvHeadStart)).toEqual([0, 0, 1, 1]);
    expect([0, 1, 2, 3].map((r) => rankSlices(gqa, p4, r).qHeadStart)).toEqual([0, 1, 2, 3]);
    expect([0, 1].map((r) => rankSlices(gqa, createTpPlan(gqa, 2), r).kvHeadStart)).toEqual([0, 1]);
  });

  it('one kv head (MQA) is replicated on every rank', () => {
    const p = createTpPlan(mqa, 4);
    expect([0, 1, 2, 3].map((r) => rankSlices(mqa, p, r).kvHeadStart)).toEqual([0, 0, 0, 0]);
    expect(p.numKvHeadsPerRank).toBe(1);
  });

  it('the vocabulary is split only from 64 MiB tables (auto), or when forced', () => {
    expect(createTpPlan(gqa, 2).vocabParallel).toBe(false); // 256 × 64 × 4 bytes
    const big = { ...gqa, vocabSize: 128_256, hiddenSize: 4096, dtype: 'bfloat16' as const }; // Llama 3 8B: 1 GiB
    expect(big.vocabSize * big.hiddenSize * 2).toBeGreaterThanOrEqual(VOCAB_SPLIT_MIN_BYTES);
    expect(createTpPlan(big, 2)).toMatchObject({ vocabParallel: true, vocabPerRank: 64_128 });
    expect(createTpPlan({ ...big, vocabSize: 128_257 }, 2).vocabParallel).toBe(false); // indivisible: replicate
    expect(createTpPlan(gqa, 4, 'split')).toMatchObject({ vocabParallel: true, vocabPerRank: 64 });
    expect(rankSlices(gqa, createTpPlan(gqa, 4, 'split'), 3).vocabStart).toBe(192);
    expect(createTpPlan(big, 2, 'replicate').vocabParallel).toBe(false);
  });

  it.each([
    [3, gqa, /--tp_size 3 does not divide the model's 4 attention heads/],
    [8, gqa, /--tp_size 8 is larger than the model's 4 attention heads/],
    [0, gqa, /--tp_size must be a positive integer, got 0/],
    [2, { ...gqa, numHeads: 6, numKvHeads: 3 }, /--tp_size 2 and the model's 3 KV heads do not split evenly/],
    [2, { ...gqa, intermediateSize: 161 }, /--tp_size 2 does not divide the MLP's intermediate_size 161/],
  ])('rejects tp=%i with a ConfigError saying why', (tp, model, message) => {
    expect(() => createTpPlan(model, tp)).toThrow(ConfigError);
    expect(() => createTpPlan(model, tp)).toThrow(message);
  });

  it('rejects a forced vocabulary split that does not divide', () => {
    expect(() => createTpPlan({ ...gqa, vocabSize: 255 }, 2, 'split')).toThrow(/vocabulary \(255\) does not divide by 2/);
  });

  it('CUDA: a tp size larger than the visible GPUs is an error at load', () => {
    expect(() => checkTpFitsDevices(4, 2)).toThrow(/--tp_size 4 but only 2 GPU\(s\) are visible/);
    expect(() => checkTpFitsDevices(2, 2)).not.toThrow();
  });
});

describe('sliceWeight', () => {
  const w = { dtype: 'float16' as const, shape: [4, 3], data: Uint16Array.from({ length: 12 }, (_, i) => i) };
  it('rows keep a block of output rows, columns a block of input columns (storage dtype kept)', () => {
    expect(sliceWeight('w', w, { kind: 'rows', start: 1, count: 2 })).toEqual({ dtype: 'float16', shape: [2, 3], data: Uint16Array.from([3, 4, 5, 6, 7, 8]) });
    expect(sliceWeight('w', w, { kind: 'cols', start: 1, count: 2 })).toEqual({ dtype: 'float16', shape: [4, 2], data: Uint16Array.from([1, 2, 4, 5, 7, 8, 10, 11]) });
    const bias = { dtype: 'float32' as const, shape: [4], data: Float32Array.from([1, 2, 3, 4]) };
    expect(sliceWeight('b', bias, { kind: 'rows', start: 2, count: 2 })).toEqual({ dtype: 'float32', shape: [2], data: Float32Array.from([3, 4]) });
  });

  it('a slice past the end is a ConfigError naming the weight', () => {
    expect(() => sliceWeight('w', w, { kind: 'rows', start: 3, count: 2 })).toThrow(/cannot shard 'w' \[4, 3\] by rows 3..5/);
  });
});

describe('MPI environment', () => {
  it('reads Open MPI, then PMI variables; none means not under MPI', () => {
    expect(tryParseMpiEnv({ OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '4' })).toEqual({ rank: 1, worldSize: 4, source: 'openmpi' });
    expect(tryParseMpiEnv({ PMI_RANK: '0', PMI_SIZE: '2' })).toEqual({ rank: 0, worldSize: 2, source: 'pmi' });
    expect(tryParseMpiEnv({ OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_SIZE: '8', PMI_RANK: '0', PMI_SIZE: '1' })).toMatchObject({ rank: 3, worldSize: 8 });
    expect(tryParseMpiEnv({ PATH: '/usr/bin' })).toBeUndefined();
  });

  it.each([
    [{ OMPI_COMM_WORLD_RANK: '1' }, /OMPI_COMM_WORLD_RANK is set but OMPI_COMM_WORLD_SIZE is not/],
    [{ PMI_RANK: 'x', PMI_SIZE: '2' }, /PMI_RANK="x" is not a non-negative integer/],
    [{ PMI_RANK: '2', PMI_SIZE: '2' }, /PMI_RANK=2 is outside the world of 2/],
    [{ PMI_RANK: '0', PMI_SIZE: '0' }, /PMI_SIZE=0 must be at least 1/],
  ])('rejects %j', (env, message) => {
    expect(() => tryParseMpiEnv(env)).toThrow(ConfigError);
    expect(() => tryParseMpiEnv(env)).toThrow(message);
  });
});
