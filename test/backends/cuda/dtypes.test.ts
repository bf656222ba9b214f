/** FP16 engines and the fp8 KV cache on CUDA: the pure parts (defines, keys, plans, sizes); no device. */
import { describe, expect, it } from 'vitest';
import { engineDtypes, kernelMismatch, kernelSections, tacticKey, tryReadKernels } from '../../../src/backends/cuda/engine-sections.js';
import { planExecution, type PlanOp } from '../../../src/backends/cuda/exec-plan.js';
import { cudaDataType } from '../../../src/backends/cuda/gemm.js';
import { CudaKvCache } from '../../../src/backends/cuda/kv-cache.js';
import { checkKernelShapes, definesFor, kernelDtypes, specialise } from '../../../src/backends/cuda/kernels/index.js';
import { Builder } from '../../../src/builder/builder.js';
import { BackendError } from '../../../src/errors/index.js';
import type { GraphDef } from '../../../src/graph/types.js';
import { defineModel } from '../../../src/models/index.js';
import { randomWeights, tinyConfig } from '../../models/tiny.js';

const SHAPES = { hiddenSize: 4096, intermediateSize: 14336, numHeads: 32, numKvHeads: 8, headDim: 128, tokensPerBlock: 16 };

function llamaGraph(): GraphDef {
  const config = tinyConfig({});
  const builder = new Builder();
  const network = builder.createNetwork();
  defineModel(network, config);
  return builder.buildEngine(network, { target: 'cpu', weights: randomWeights(config), model: config, settings: { maxInputLen: 64, maxOutputLen: 64 } }).graph;
}

/** The graph with every attention marked fp8 KV, as the quantize pass does (layer l: kScale 0.5 + l, vScale 0.25). */
function withFp8Kv(g: GraphDef): GraphDef {
  return { ...g, nodes: g.nodes.map((n) => (n.op === 'attention' ? { ...n, attrs: { ...n.attrs, kvCacheDtype: 'fp8e4m3', kScale: 0.5 + Number(n.attrs['layer']), vScale: 0.25 } } : n)) };
}

const engineOf = (graph: GraphDef, dtype: 'float32' | 'float16' | 'bfloat16') =>
  ({ graph, config: { build: { maxBatchSize: 1, maxInputLen: 1, maxOutputLen: 1, maxNumTokens: 1, dtype } } }) as unknown as Parameters<typeof engineDtypes>[0];

describe('kernel dtypes', () => {
  it('default to bf16 activations and a KV cache of the activation dtype', () => {
    expect(kernelDtypes(SHAPES)).toEqual({ actDtype: 'bfloat16', kvDtype: 'bfloat16' });
    expect(kernelDtypes({ ...SHAPES, actDtype: 'float16' })).toEqual({ actDtype: 'float16', kvDtype: 'float16' });
  });

  it('every kernel file gets ACT_F16 and KV_FP8, after its shape constants', () => {
    const bf = definesFor(SHAPES), f16 = definesFor({ ...SHAPES, actDtype: 'float16', kvDtype: 'fp8e4m3' });
    for (const [file, d] of Object.entries(bf)) expect([file, d['ACT_F16'], d['KV_FP8']]).toEqual([file, 0, 0]);
    for (const [file, d] of Object.entries(f16)) expect([file, d['ACT_F16'], d['KV_FP8']]).toEqual([file, 1, 1]);
    expect(definesFor({ ...SHAPES, kvDtype: 'fp8e4m3' }).attention_decode).toMatchObject({ ACT_F16: 0, KV_FP8: 1, HEAD_DIM: 128 });
    const src = specialise('attention_prefill', f16.attention_prefill);
    expect(src).toContain('#define ACT_F16 1\n#define KV_FP8 1\n');
    expect(src.indexOf('#define KV_FP8 1')).toBeLessThan(src.indexOf('#ifndef ACT_F16'));
  });

  it('refuses a 16-bit KV cache of the other dtype', () => {
    expect(() => checkKernelShapes({ ...SHAPES, actDtype: 'float16', kvDtype: 'fp8e4m3' })).not.toThrow();
    expect(() => checkKernelShapes({ ...SHAPES, actDtype: 'bfloat16', kvDtype: 'float16' })).toThrow('a float16 KV cache needs float16 activations (this engine computes in bfloat16); use fp8 or the activation dtype');
  });

  it('stored kernels are reused only for the same dtypes, else named', () => {
    expect(kernelMismatch(SHAPES, { ...SHAPES, actDtype: 'bfloat16', kvDtype: 'bfloat16' })).toBeNull();
    expect(kernelMismatch(SHAPES, { ...SHAPES, actDtype: 'float16' })).toBe('its kernels were built for bfloat16 activations and a bfloat16 KV cache, not float16 and float16');
    expect(kernelMismatch({ ...SHAPES, kvDtype: 'fp8e4m3' }, SHAPES)).toBe('its kernels were built for bfloat16 activations and a fp8e4m3 KV cache, not bfloat16 and bfloat16');
    expect(kernelMismatch(SHAPES, { ...SHAPES, tokensPerBlock: 32 })).toBe('its kernels were built for 16 tokens per KV block, not 32');
  });

  it('the engine\'s kernel section records the dtypes; engines without them read as bf16', () => {
    const compiled = [{ file: 'embedding' as const, arch: 'sm_90', cubin: new Uint8Array([1, 2, 3]), compileMs: 0, log: '' }];
    const sectionsOf = (list: ReturnType<typeof kernelSections>) => ({ list: () => list, tryGet: (name: string) => list.find((x) => x.name === name) });
    const shapes = { ...SHAPES, actDtype: 'float16' as const, kvDtype: 'fp8e4m3' as const };
    expect(tryReadKernels(sectionsOf(kernelSections(compiled, shapes)))?.shapes).toEqual(shapes);
    const old = tryReadKernels(sectionsOf(kernelSections(compiled, SHAPES)))!.shapes;
    expect(kernelDtypes(old)).toEqual({ actDtype: 'bfloat16', kvDtype: 'bfloat16' });
    expect(kernelMismatch(old, { ...SHAPES, actDtype: 'bfloat16' })).toBeNull();
  });

  it('engine dtypes: float16 engines run fp16, others bf16; fp8 attention attrs give an fp8 cache', () => {
    const g = llamaGraph();
    expect(engineDtypes(engineOf(g, 'float16'))).toEqual({ actDtype: 'float16', kvDtype: 'float16' });
    expect(engineDtypes(engineOf(g, 'float32'))).toEqual({ actDtype: 'bfloat16', kvDtype: 'bfloat16' });
    expect(engineDtypes(engineOf(withFp8Kv(g), 'float16'))).toEqual({ actDtype: 'float16', kvDtype: 'fp8e4m3' });
  });
});

describe('GEMM dtype', () => {
  it('tactic keys tag float16 (bf16 keys keep their old form) and map to cudaDataType', () => {
    expect(tacticKey(64, 4096, 4096, 'none', false)).toBe('m64 n4096 k4096 none');
    expect(tacticKey(64, 4096, 4096, 'none', false, 'bfloat16')).toBe('m64 n4096 k4096 none');
    expect(tacticKey(64, 128256, 4096, 'none', true, 'float16')).toBe('m64 n128256 k4096 none f32out f16');
    expect([cudaDataType('bfloat16'), cudaDataType('float16')]).toEqual([14, 2]);
  });
});

describe('fp8 KV cache', () => {
  it('a block holds one byte per element', () => {
    const spec = { numLayers: 2, numKvHeads: 8, headDim: 128, numBlocks: 10, tokensPerBlock: 16 };
    expect(CudaKvCache.blockBytes({ ...spec, dtype: 'fp8e4m3' })).toBe(16 * 8 * 128);
    expect(CudaKvCache.blockBytes({ ...spec, dtype: 'float16' })).toBe(2 * 16 * 8 * 128);
  });

  it('the plan carries each layer\'s K/V scales, null without fp8', () => {
    const rows = (dim: string): number => (dim === 'num_logits' ? 8 : 32);
    const attn = (g: GraphDef) => planExecution(g, rows).ops.filter((o): o is Extract<PlanOp, { op: 'attention' }> => o.op === 'attention');
    expect(attn(llamaGraph()).map((a) => a.kvScales)).toEqual([null, null]);
    expect(attn(withFp8Kv(llamaGraph())).map((a) => a.kvScales)).toEqual([{ k: 0.5, v: 0.25 }, { k: 1.5, v: 0.25 }]);
    const bad = withFp8Kv(llamaGraph());
    const broken = { ...bad, nodes: bad.nodes.map((n) => (n.op === 'attention' ? { ...n, attrs: { ...n.attrs, kScale: 0 } } : n)) };
    expect(() => planExecution(broken, rows)).toThrow(BackendError);
    expect(() => planExecution(broken, rows)).toThrow(/fp8 KV cache attention needs positive kScale and vScale/);
  });
});
