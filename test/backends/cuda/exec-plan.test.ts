/** The CUDA context's static plan of a real Llama engine graph (CPU-only: plain data, no device). */
import { describe, expect, it } from 'vitest';
import { planExecution, type ActRef, type PlanOp } from '../../../src/backends/cuda/exec-plan.js';
import { decodeBuckets } from '../../../src/backends/cuda/context.js';
import { gemmRowsBucket } from '../../../src/backends/cuda/plan-runner.js';
import { tuneRows } from '../../../src/backends/cuda/target-builder.js';
import { Builder } from '../../../src/builder/builder.js';
import { BackendError } from '../../../src/errors/index.js';
import type { GraphDef } from '../../../src/graph/types.js';
import { defineModel } from '../../../src/models/index.js';
import { randomWeights, tinyConfig } from '../../models/tiny.js';

function llamaGraph(overrides = {}): GraphDef {
  const config = tinyConfig(overrides);
  const builder = new Builder();
  const network = builder.createNetwork();
  defineModel(network, config);
  return builder.buildEngine(network, { target: 'cpu', weights: randomWeights(config), model: config, settings: { maxInputLen: 64, maxOutputLen: 64 } }).graph;
}

const maxRows = (dim: string): number => (dim === 'num_logits' ? 8 : 32);
const ofKind = <K extends PlanOp['op']>(ops: readonly PlanOp[], op: K): Extract<PlanOp, { op: K }>[] => ops.filter((o): o is Extract<PlanOp, { op: K }> => o.op === op);

describe('planExecution', () => {
  it('lowers the fused Llama graph onto kernels and GEMMs, rope folded into attention', () => {
    const plan = planExecution(llamaGraph(), maxRows);
    const layer = ['gemm', 'attention', 'gemm', 'norm', 'gemm', 'silu_mul', 'gemm', 'norm'];
    expect(plan.ops.map((o) => o.op)).toEqual(['embedding', 'norm', ...layer, ...layer, 'gather', 'gemm']);
    const attn = ofKind(plan.ops, 'attention');
    // q, k, v are column views of the merged qkv activation (4·4 + 2·4 + 2·4 = 32 columns).
    expect(attn[0]!.q.src).toMatchObject({ col: 0, cols: 16, stride: 32 });
    expect(attn[0]!.k.src).toMatchObject({ col: 16, cols: 8, stride: 32 });
    expect(attn[0]!.v).toMatchObject({ col: 24, cols: 8, stride: 32 });
    expect(attn.map((a) => a.layer)).toEqual([0, 1]);
    expect(attn[0]!.scale).toBeCloseTo(0.5, 12);
  });

  it('writes float32 logits [num_logits, vocab] from the LM head GEMM and bf16 elsewhere', () => {
    const plan = planExecution(llamaGraph(), maxRows);
    const gemms = ofKind(plan.ops, 'gemm');
    expect(gemms.map((g) => g.out.f32)).toEqual([false, false, false, false, false, false, false, false, true]);
    expect(gemms.at(-1)).toMatchObject({ n: 40, k: 16, rowsDim: 'num_logits', epilogue: 'none' });
    expect(plan.outputs).toEqual([{ name: 'logits', ref: gemms.at(-1)!.out }]);
    expect(plan.slotBytes[plan.outputs[0]!.ref.slot]).toBeGreaterThanOrEqual(8 * 40 * 4);
  });

  it('updates the residual in place and never gives two live tensors one slot', () => {
    const plan = planExecution(llamaGraph(), maxRows);
    const norms = ofKind(plan.ops, 'norm');
    const embed = ofKind(plan.ops, 'embedding')[0]!;
    expect(norms[0]!.residual).toBeNull();
    expect(norms[1]!.residual!.slot).toBe(embed.out.slot); // the embedding output is the residual stream
    for (const op of plan.ops) {
      const reads: ActRef[] = op.op === 'attention' ? [op.q.src, op.k.src, op.v] : op.op === 'norm' ? [op.x] : op.op === 'embedding' ? [] : [op.x];
      const residual = op.op === 'norm' ? op.residual : null;
      for (const r of [...reads, ...(residual ? [residual] : [])]) expect(r.slot).not.toBe(op.out.slot);
    }
    expect(plan.slotBytes.length).toBe(3);
  });

  it('uses bias epilogues for biased projections', () => {
    const plan = planExecution(llamaGraph({ qkvBias: true, oProjBias: true }), maxRows);
    expect(ofKind(plan.ops, 'gemm').map((g) => g.epilogue).slice(0, 2)).toEqual(['bias', 'bias']);
    expect(ofKind(plan.ops, 'gemm')[0]!.bias).toBe('model.layers.0.self_attn.qkv_proj.bias');
  });

  it('names the node it cannot run', () => {
    const g = llamaGraph();
    const bad: GraphDef = { ...g, nodes: g.nodes.map((n, i) => (i === 2 ? { ...n, op: 'softmax' } : n)) };
    expect(() => planExecution(bad, maxRows)).toThrow(BackendError);
    expect(() => planExecution(bad, maxRows)).toThrow(/node 2 \(softmax.*no CUDA implementation/);
  });
});

describe('batch buckets', () => {
  it('captures decode graphs for powers of two and max_batch_size', () => {
    expect(decodeBuckets(1)).toEqual([1]);
    expect(decodeBuckets(8)).toEqual([1, 2, 4, 8]);
    expect(decodeBuckets(48)).toEqual([1, 2, 4, 8, 16, 32, 48]);
  });
  it('pads GEMM rows to a power of two up to 64, then to a multiple of 64', () => {
    expect([1, 3, 5, 64, 65, 130, 2048].map(gemmRowsBucket)).toEqual([1, 4, 8, 64, 128, 192, 2048]);
  });
  it('tunes the decode buckets and prefill sizes up to max_num_tokens', () => {
    expect(tuneRows(8, 256)).toEqual([1, 2, 4, 8, 256]);
    expect(tuneRows(48, 4096)).toEqual([1, 2, 4, 8, 16, 32, 64, 512, 2048, 4096]);
  });
});
