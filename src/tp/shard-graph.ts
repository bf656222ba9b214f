/**
 * One rank's graph: the model defined with the rank's head/channel/vocabulary counts (so every
 * weight and activation has its shard's shape), plus the collectives that make the ranks one
 * model — an all_reduce after each row-parallel matmul (o_proj, down_proj; before o_proj's
 * bias), and with a vocabulary split a masked embedding + all_reduce and an all_gather of logits.
 */
import { GraphRewriter, type ResolvedNode } from '../builder/graph-edit.js';
import { Network } from '../graph/network.js';
import { getOpSpec } from '../graph/ops/index.js';
import type { GraphDef, NodeDef } from '../graph/types.js';
import type { ModelConfig } from '../models/config.js';
import { defineModel, LLM_OUTPUT_LOGITS } from '../models/index.js';
import { EMBED_TOKENS, layerWeightNames } from '../models/weights.js';
import { rankModelConfig, type RankSlices, type TpPlan } from './plan.js';

function rowParallelWeights(model: ModelConfig): Map<string, string> {
  const names = new Map<string, string>();
  for (let i = 0; i < model.numLayers; i++) {
    const n = layerWeightNames(i);
    names.set(n.o, `layers.${i}.attn.o_proj.all_reduce`).set(n.down, `layers.${i}.mlp.down_proj.all_reduce`);
  }
  return names;
}

function weightName(graph: GraphDef, node: NodeDef, arg: number): string | undefined {
  const t = graph.tensors[node.inputs[arg]!];
  return t?.kind === 'weight' ? t.name : undefined;
}

/** Replaces node `at` by a copy writing a fresh tensor, then `op` over it writing the old output. */
function followWith(rw: GraphRewriter, at: number, node: NodeDef, first: Omit<ResolvedNode, 'outputs'>, op: string, attrs: ResolvedNode['attrs'], name: string): void {
  const head = rw.makeNode({ op: first.op, inputs: first.inputs, attrs: first.attrs, ...(first.name ? { name: first.name } : {}) });
  const tail = rw.makeNode({ op, inputs: [head.outputs[0]!], attrs, name, reuse: [node.outputs[0]!] });
  rw.replace(at, [head, tail]);
}

function insertCollectives(graph: GraphDef, model: ModelConfig, plan: TpPlan, slices: RankSlices): GraphDef {
  const rowParallel = rowParallelWeights(model);
  const reduce = { tpSize: plan.tpSize, reduce: 'sum' };
  const rw = new GraphRewriter(graph);
  graph.nodes.forEach((node, at) => {
    const w = weightName(graph, node, 1);
    if (node.op === 'matmul' && w !== undefined && rowParallel.has(w)) {
      followWith(rw, at, node, node, 'all_reduce', reduce, rowParallel.get(w)!);
    } else if (node.op === 'embedding' && plan.vocabParallel && w === EMBED_TOKENS) {
      const masked = { op: 'vocab_embedding', inputs: node.inputs, attrs: { vocabStart: slices.vocabStart, vocabSize: model.vocabSize }, name: 'embed_tokens.vocab_shard' };
      followWith(rw, at, node, masked, 'all_reduce', reduce, 'embed_tokens.all_reduce');
    }
  });
  const out = rw.finish();
  return plan.vocabParallel ? gatherLogits(out, plan.tpSize) : out;
}

/** Appends all_gather(logits) and makes it the `logits` output. */
function gatherLogits(graph: GraphDef, tpSize: number): GraphDef {
  const output = graph.outputs.find((o) => o.name === LLM_OUTPUT_LOGITS);
  if (!output) throw new Error(`tp: the model graph has no '${LLM_OUTPUT_LOGITS}' output`);
  const local = graph.tensors.find((t) => t.id === output.tensor)!;
  const attrs = { tpSize };
  const [sig] = getOpSpec('all_gather').infer([local], attrs);
  const id = graph.tensors.reduce((m, t) => Math.max(m, t.id + 1), 0);
  return {
    tensors: [...graph.tensors, { id, shape: sig!.shape, dtype: sig!.dtype, kind: 'intermediate' }],
    nodes: [...graph.nodes, { id: graph.nodes.length, op: 'all_gather', inputs: [local.id], outputs: [id], attrs, name: 'logits.all_gather' }],
    inputs: graph.inputs,
    outputs: graph.outputs.map((o) => (o.name === LLM_OUTPUT_LOGITS ? { name: o.name, tensor: id } : o)),
  };
}

/** The graph rank `slices.rank` runs (before the builder's passes). */
export function defineRankGraph(model: ModelConfig, plan: TpPlan, slices: RankSlices): GraphDef {
  const network = new Network();
  defineModel(network, rankModelConfig(model, plan));
  return insertCollectives(network.toGraph(), model, plan, slices);
}
