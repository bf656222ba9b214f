/** The report's engine description from an engine config: quant formats, KV dtype, pool capacity. */
import { describe, expect, it } from 'vitest';
import { describeEngine, engineFormat, kvPoolInfo, type EngineLike } from '../../src/bench/engine-info.js';
import type { EngineConfig } from '../../src/engine/types.js';
import type { GraphDef } from '../../src/graph/types.js';

const graph = (kvFp8: boolean): GraphDef => ({
  tensors: [
    { id: 0, name: 'model.layers.0.mlp.down_proj.qweight', kind: 'weight', shape: [64, 128], dtype: 'fp8e4m3' },
    { id: 1, name: 'model.layers.0.mlp.down_proj.weight_scale', kind: 'weight', shape: [1], dtype: 'float32' },
    { id: 2, name: 'lm_head.weight', kind: 'weight', shape: [100, 64], dtype: 'bfloat16' },
  ],
  nodes: [{ id: 0, op: 'attention', inputs: [], outputs: [], attrs: kvFp8 ? { kvCacheDtype: 'fp8e4m3' } : {} }],
  inputs: [], outputs: [],
} as unknown as GraphDef);

const config = (quant: EngineConfig['quant']): EngineConfig => ({
  formatVersion: 1, target: 'cuda', gpuArch: 'sm_90', model: null, tpSize: 1, passLog: [],
  plan: { peakBytes: 0, naiveBytes: 0, offsets: {} },
  build: { maxBatchSize: 1, maxInputLen: 8, maxOutputLen: 8, maxNumTokens: 8, dtype: 'bfloat16' },
  ...(quant ? { quant } : {}), dummyWeights: { seed: 1 },
});

describe('engine description in bench reports', () => {
  it('fp8 weights with an fp8 KV cache: formats, scales, declared bytes per component', () => {
    const e: EngineLike = { config: config({ format: 'fp8', fp8WeightScale: 'channel', fp8Activation: 'dynamic', kvCacheDtype: 'fp8e4m3', source: 'kiln', excluded: ['lm_head.weight'] }), graph: graph(true) };
    const f = engineFormat(e);
    expect(f).toMatchObject({ weights: 'fp8', activations: 'bfloat16', kvCache: 'fp8e4m3', dummyWeights: true });
    expect(f.detail).toBe('channel weight scales, dynamic activation scales; unquantized: lm_head.weight');
    expect(f.weightBytesByComponent).toEqual({ embeddings: 0, attention: 0, mlp: 64 * 128 + 4, lm_head: 100 * 64 * 2, other: 0 });
  });

  it('unquantized engine: weights in the compute dtype, KV cache in the compute dtype', () => {
    const f = engineFormat({ config: config(undefined), graph: graph(false) });
    expect([f.weights, f.kvCache, f.detail]).toEqual(['bfloat16', 'bfloat16', '']);
  });

  it('int4_wo names its group size; the KV dtype comes from the attention nodes', () => {
    const f = engineFormat({ config: config({ format: 'int4_wo', groupSize: 64, awq: true, kvCacheDtype: null, source: 'kiln', excluded: [] }), graph: graph(true) });
    expect([f.weights, f.kvCache, f.detail]).toEqual(['int4_wo', 'fp8e4m3', 'group 64; AWQ']);
  });

  it('KV pool capacity and measured bytes per token; the line for people', () => {
    const pool = kvPoolInfo({ numBlocks: 10, tokensPerBlock: 32 }, { weights: 1, kvCache: 10 * 32 * 65536, activations: 0, other: 0 });
    expect(pool).toEqual({ numBlocks: 10, tokensPerBlock: 32, capacityTokens: 320, bytesPerToken: 65536 });
    expect(kvPoolInfo({ numBlocks: 0, tokensPerBlock: 32 }, null).bytesPerToken).toBeNull();
    const f = engineFormat({ config: config(undefined), graph: graph(false) });
    expect(describeEngine(f, pool)).toBe('Engine: weights bfloat16, activations bfloat16, KV cache bfloat16, dummy weights; declared weight bytes 0.0 MiB (mlp 0.0 MiB, lm_head 0.0 MiB); KV pool 10 blocks × 32 = 320 tokens (65536 B per token)');
  });
});
