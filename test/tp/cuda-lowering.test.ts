/** The CUDA plan of sharded rank graphs: collectives lowered to NCCL plan ops (pure: no device). */
import { describe, expect, it } from 'vitest';
import { gatherReorderCopies } from '../../src/backends/cuda/collective.js';
import { planExecution, type PlanOp } from '../../src/backends/cuda/exec-plan.js';
import { Builder } from '../../src/builder/builder.js';
import { BackendError, ConfigError } from '../../src/errors/index.js';
import type { GraphDef } from '../../src/graph/types.js';
import { vocabModeFor } from '../../src/tp/build.js';
import { createTpPlan, rankModelConfig, rankSlices, type TpPlan } from '../../src/tp/plan.js';
import { defineRankGraph } from '../../src/tp/shard-graph.js';
import { createShardedWeightStore, shardRules } from '../../src/tp/shard-weights.js';
import { randomWeights, tinyConfig } from '../models/tiny.js';

const model = tinyConfig();
const maxRows = (dim: string): number => (dim === 'num_logits' ? 8 : 32);

function rankGraph(plan: TpPlan, rank: number): GraphDef {
  const slices = rankSlices(model, plan, rank);
  return new Builder().buildEngine(defineRankGraph(model, plan, slices), {
    target: 'cpu', model: rankModelConfig(model, plan), settings: { maxInputLen: 64, maxOutputLen: 64 },
    weights: createShardedWeightStore(randomWeights(model), shardRules(model, plan, slices)),
  }).graph;
}

describe('CUDA lowering of tensor-parallel collectives', () => {
  it('reduces o_proj and down_proj outputs in place, one all_reduce per row-parallel GEMM', () => {
    const plan = createTpPlan(model, 2, 'replicate');
    const ops = planExecution(rankGraph(plan, 1), maxRows).ops;
    const layer = ['gemm', 'attention', 'gemm', 'all_reduce', 'norm', 'gemm', 'silu_mul', 'gemm', 'all_reduce', 'norm'];
    expect(ops.map((o) => o.op)).toEqual(['embedding', 'norm', ...layer, ...layer, 'gather', 'gemm']);
    ops.forEach((op, i) => {
      if (op.op !== 'all_reduce') return;
      const gemm = ops[i - 1] as Extract<PlanOp, { op: 'gemm' }>;
      expect(op.x).toEqual(gemm.out); // the GEMM's output, reduced in place
      expect(op.out).toBe(op.x);
      expect(op).toMatchObject({ tpSize: 2, rowsDim: 'num_tokens' });
      expect(op.x).toMatchObject({ f32: false, cols: model.hiddenSize, stride: model.hiddenSize, col: 0 });
    });
    // Rank shapes: qkv = (2 + 1 + 1) heads · 4, gate_up = 2 · 12 channels.
    const gemms = ops.filter((o): o is Extract<PlanOp, { op: 'gemm' }> => o.op === 'gemm');
    expect(gemms.slice(0, 4).map((g) => [g.n, g.k])).toEqual([[16, 16], [16, 8], [24, 16], [16, 12]]);
  });

  it('gathers a vocabulary-split LM head in float32 through a staging slot into the logits output', () => {
    const plan = createTpPlan(model, 2, 'split');
    // vocab_embedding has no CUDA kernel: keep only the lm_head split (drop the embedding's collectives).
    const graph = rankGraph({ ...plan }, 0);
    expect(() => planExecution(graph, maxRows)).toThrow(/vocab_embedding/);
    const plain = rankGraph(createTpPlan(model, 2, 'replicate'), 0);
    const head = plain.outputs[0]!.tensor;
    const withGather = appendGather(plain, head, 2);
    const p = planExecution(withGather, maxRows);
    const gather = p.ops.at(-1) as Extract<PlanOp, { op: 'all_gather' }>;
    expect(gather.op).toBe('all_gather');
    expect(gather.x).toMatchObject({ f32: true, cols: model.vocabSize });
    expect(gather.out).toMatchObject({ f32: true, cols: 2 * model.vocabSize });
    expect(gather.staging.slot).not.toBe(gather.out.slot);
    expect(gather.staging.slot).not.toBe(gather.x.slot);
    expect(p.outputs).toEqual([{ name: 'logits', ref: gather.out }]);
    expect(p.slotBytes[gather.staging.slot]).toBeGreaterThanOrEqual(8 * 2 * model.vocabSize * 4);
  });

  it('fails an all_reduce whose input is read again (it cannot be reduced in place)', () => {
    const g = rankGraph(createTpPlan(model, 2, 'replicate'), 0);
    const at = g.nodes.findIndex((n) => n.op === 'all_reduce');
    const reader = g.nodes.findIndex((n, i) => i > at && n.inputs.includes(g.nodes[at]!.outputs[0]!));
    const bad = { ...g, nodes: g.nodes.map((n, i) => (i === reader ? { ...n, inputs: n.inputs.map((id) => (id === g.nodes[at]!.outputs[0] ? g.nodes[at]!.inputs[0]! : id)) } : n)) };
    expect(() => planExecution(bad, maxRows)).toThrow(BackendError);
    expect(() => planExecution(bad, maxRows)).toThrow(/read again later/);
  });

  it('reorders NCCL\'s rank-major gather into rows of rank-ordered columns', () => {
    // 2 rows, 3 columns, 2 ranks, 4-byte elements: staging [r0row0 r0row1 r1row0 r1row1] → out [row0: r0 r1][row1: r0 r1].
    expect(gatherReorderCopies(2, 3, 2, 4)).toEqual([
      { srcOffset: 0, dstOffset: 0, bytes: 12 }, { srcOffset: 12, dstOffset: 24, bytes: 12 },
      { srcOffset: 24, dstOffset: 12, bytes: 12 }, { srcOffset: 36, dstOffset: 36, bytes: 12 },
    ]);
    expect(gatherReorderCopies(5, 3, 1, 4)).toEqual([{ srcOffset: 0, dstOffset: 0, bytes: 60 }]);
  });

  it('builds CUDA rank engines with the vocabulary replicated, and refuses a forced split', () => {
    expect(vocabModeFor('cuda', 'auto')).toBe('replicate');
    expect(vocabModeFor('cpu', 'split')).toBe('split');
    expect(() => vocabModeFor('cuda', 'split')).toThrow(ConfigError);
  });
});

/** all_gather(tpSize) over `tensor` as the new logits output (what the lm_head split adds). */
function appendGather(g: GraphDef, tensor: number, tpSize: number): GraphDef {
  const t = g.tensors[tensor]!;
  const id = g.tensors.length;
  return {
    ...g,
    tensors: [...g.tensors, { id, shape: [t.shape[0]!, Number(t.shape[1]) * tpSize], dtype: 'float32', kind: 'intermediate' }],
    nodes: [...g.nodes, { id: g.nodes.length, op: 'all_gather', inputs: [tensor], outputs: [id], attrs: { tpSize } }],
    outputs: [{ name: 'logits', tensor: id }],
  };
}
