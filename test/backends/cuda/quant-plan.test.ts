/** Lowering of quantized engine graphs (fp8_matmul / wo_matmul) into CUDA plan ops (CPU-only: plain data). */
import { describe, expect, it } from 'vitest';
import { planExecution, type PlanOp } from '../../../src/backends/cuda/exec-plan.js';
import { fp8GemmUnsupported } from '../../../src/backends/cuda/gemm-fp8.js';
import { gemvCapacity, int4GemvKernel, quantScratchBytes } from '../../../src/backends/cuda/quant-ops.js';
import { deviceBytes, deviceDtypeOf } from '../../../src/backends/cuda/weights.js';
import { Builder } from '../../../src/builder/builder.js';
import { BackendError } from '../../../src/errors/index.js';
import type { GraphDef } from '../../../src/graph/types.js';
import { defineModel } from '../../../src/models/index.js';
import { prepareQuantization } from '../../../src/quant/build.js';
import { DEFAULT_QUANT_OPTIONS, type QuantOptions } from '../../../src/quant/types.js';
import { randomWeights, tinyConfig } from '../../models/tiny.js';

/** hidden 32 (fp8 needs K % 16), intermediate 64, 4 heads of 8, 2 KV heads. */
function quantGraph(q: Partial<QuantOptions>, overrides = {}): GraphDef {
  const config = tinyConfig({ hiddenSize: 32, intermediateSize: 64, headDim: 8, ...overrides });
  const builder = new Builder();
  const network = builder.createNetwork();
  defineModel(network, config);
  const weights = randomWeights(config);
  const prepared = prepareQuantization({ checkpointDir: '/nonexistent', model: config, graph: network.toGraph(), weights,
    options: { ...DEFAULT_QUANT_OPTIONS, calibSize: 0, ...q }, log: () => undefined });
  return builder.buildEngine(network, { target: 'cpu', weights, model: config, passes: prepared.passes, settings: { maxInputLen: 64, maxOutputLen: 64 } }).graph;
}

const maxRows = (dim: string): number => (dim === 'num_logits' ? 8 : 64);
const ofKind = <K extends PlanOp['op']>(ops: readonly PlanOp[], op: K): Extract<PlanOp, { op: K }>[] => ops.filter((o): o is Extract<PlanOp, { op: K }> => o.op === op);

describe('planExecution of quantized graphs', () => {
  it('lowers int4_wo linears to wo_gemm ops (unmerged q/k/v and gate/up, silu · up unfused) and keeps the LM head bf16', () => {
    const plan = planExecution(quantGraph({ format: 'int4_wo', groupSize: 64 }), maxRows);
    const layer = ['wo_gemm', 'wo_gemm', 'wo_gemm', 'attention', 'wo_gemm', 'norm', 'wo_gemm', 'wo_gemm', 'silu', 'binary', 'wo_gemm', 'norm'];
    expect(plan.ops.map((o) => o.op)).toEqual(['embedding', 'norm', ...layer, ...layer, 'gather', 'gemm']);
    const wo = ofKind(plan.ops, 'wo_gemm');
    expect(wo[0]).toMatchObject({ weight: 'model.layers.0.self_attn.q_proj.qweight', scales: 'model.layers.0.self_attn.q_proj.weight_scale',
      zeros: null, preScale: null, bits: 4, groupSize: 64, n: 32, k: 32, gemv: true, rowsDim: 'num_tokens' });
    expect(wo[0]!.out.f32).toBe(false);
    // down_proj: K = 64 intermediate, gemv chunks of 32 int4 columns fit.
    expect(wo[6]).toMatchObject({ weight: 'model.layers.0.mlp.down_proj.qweight', n: 32, k: 64, gemv: true });
    const bin = ofKind(plan.ops, 'binary')[0]!;
    expect(bin.mul).toBe(true);
    expect(bin.x.slot).toBe(ofKind(plan.ops, 'silu')[0]!.out.slot);
    expect(bin.y).toEqual(wo[5]!.out); // up_proj's output
    expect(quantScratchBytes(plan.ops, maxRows)).toEqual({ fp8Act: 0, rowScale: 0, dequant: 2 * 64 * 32 });
  });

  it('lowers fp8 linears with their scales: static per-tensor and dynamic per-channel', () => {
    const stat = ofKind(planExecution(quantGraph({ format: 'fp8', fp8Activation: 'dynamic', fp8WeightScale: 'channel' }), maxRows).ops, 'fp8_gemm');
    expect(stat).toHaveLength(14);
    expect(stat[1]).toMatchObject({ weight: 'model.layers.0.self_attn.k_proj.qweight', weightScale: 'model.layers.0.self_attn.k_proj.weight_scale',
      inputScale: null, perChannel: true, n: 16, k: 32 });
    const plan = planExecution(quantGraph({ format: 'fp8', fp8Activation: 'dynamic' }), maxRows);
    expect(ofKind(plan.ops, 'fp8_gemm')[6]).toMatchObject({ weight: 'model.layers.0.mlp.down_proj.qweight', inputScale: null, perChannel: false, n: 32, k: 64 });
    expect(quantScratchBytes(plan.ops, maxRows)).toEqual({ fp8Act: 64 * 64, rowScale: 4 * 64, dequant: 0 });
  });

  it('int8_wo with a bias: the bias add is a broadcast binary op; K not a multiple of the chunk disables the GEMV', () => {
    const plan = planExecution(quantGraph({ format: 'int8_wo', groupSize: 64 }, { qkvBias: true, intermediateSize: 40 }), maxRows);
    const adds = ofKind(plan.ops, 'binary').filter((b) => !b.mul);
    expect(adds.map((a) => (a.y.kind === 'weight' ? a.y.name : '?')).slice(0, 3)).toEqual(
      ['model.layers.0.self_attn.q_proj.bias', 'model.layers.0.self_attn.k_proj.bias', 'model.layers.0.self_attn.v_proj.bias']);
    const wo = ofKind(plan.ops, 'wo_gemm');
    expect(wo[0]).toMatchObject({ bits: 8, k: 32, gemv: true });
    expect(wo.find((o) => o.weight.includes('down_proj'))).toMatchObject({ k: 40, gemv: false }); // 40 % 16 ≠ 0
  });

  it('refuses fp8 GEMMs whose K is not a multiple of 16, naming the node', () => {
    expect(() => planExecution(quantGraph({ format: 'fp8', fp8Activation: 'dynamic' }, { intermediateSize: 40 }), maxRows))
      .toThrow(BackendError);
    expect(() => planExecution(quantGraph({ format: 'fp8', fp8Activation: 'dynamic' }, { intermediateSize: 40 }), maxRows))
      .toThrow(/fp8_matmul.*K = 40 is not a multiple of 16/);
    expect(fp8GemmUnsupported(4096, 4096)).toBeUndefined();
    expect(fp8GemmUnsupported(12, 32)).toMatch(/N = 12 bfloat16 outputs/);
    expect(fp8GemmUnsupported(12, 32, 'float32')).toBeUndefined();
  });
});

describe('quantized GEMM helpers', () => {
  it('picks the GEMV specialisation by rows', () => {
    expect([1, 2, 3, 4, 5, 8].map(gemvCapacity)).toEqual([1, 2, 4, 4, 8, 8]);
  });

  it('runs the int4 GEMV on tensor cores where K % 128 and group % 32 allow, else (or when forced) on CUDA cores', () => {
    expect(int4GemvKernel(4096, 128, undefined, {})).toBe('mma');
    expect(int4GemvKernel(14336, 64, undefined, {})).toBe('mma');
    expect(int4GemvKernel(4160, 64, undefined, {})).toBe('fma');
    expect(int4GemvKernel(4096, 48, undefined, {})).toBe('fma');
    expect(int4GemvKernel(4096, 128, 'fma', {})).toBe('fma');
    expect(int4GemvKernel(4096, 128, undefined, { KILN_WO_GEMV_INT4: 'fma' })).toBe('fma');
    expect(int4GemvKernel(4096, 128, 'mma', { KILN_WO_GEMV_INT4: 'fma' })).toBe('mma');
  });

  it('keeps quantized bytes raw and quantization parameters float32 on the device', () => {
    expect(deviceDtypeOf('a.qweight', 'fp8e4m3')).toBe('fp8e4m3');
    expect(deviceDtypeOf('a.qweight', 'uint8', 'float16')).toBe('uint8');
    expect(deviceDtypeOf('a.zeros', 'uint8')).toBe('uint8');
    expect(deviceDtypeOf('a.weight_scale', 'float32', 'float16')).toBe('float32');
    expect(deviceDtypeOf('a.input_scale', 'bfloat16')).toBe('float32');
    expect(deviceDtypeOf('a.pre_scale', 'float32')).toBe('float32');
    expect(deviceDtypeOf('a.weight', 'float32')).toBe('bfloat16');
    expect(deviceDtypeOf('a.weight', 'bfloat16', 'float16')).toBe('float16');
    const codes = Uint8Array.of(1, 2, 255);
    expect(deviceBytes('a.qweight', { dtype: 'fp8e4m3', shape: [3], data: codes }, 'fp8e4m3')).toBe(codes);
    expect([...deviceBytes('a.weight_scale', { dtype: 'bfloat16', shape: [2], data: Uint16Array.of(0x3f80, 0xc000) }, 'float32')]).toEqual([1, -2]);
    expect([...deviceBytes('a.weight', { dtype: 'float32', shape: [1], data: Float32Array.of(1) }, 'float16')]).toEqual([0x3c00]);
  });
});
