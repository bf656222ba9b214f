/**
 * Calibration: runs the unquantized model (CPU backend, no builder passes, so every Linear still
 * reads its HF-named weight) over the calibration prompts with each Linear input and each
 * attention layer's K and V (after rope, as the cache stores them) exposed as extra graph
 * outputs, and records their absolute maxima; for AWQ it also keeps input rows per Linear.
 */
import { createCpuBackend } from '../backends/cpu/index.js';
import type { HostTensor, StepInputs } from '../backends/types.js';
import { Builder } from '../builder/builder.js';
import { indexGraph } from '../builder/graph-edit.js';
import { matchLinear } from '../builder/passes/common.js';
import type { WeightStore } from '../engine/types.js';
import type { GraphDef } from '../graph/types.js';
import type { ModelConfig } from '../models/config.js';
import { amaxOf } from './numerics.js';

export interface CalibrationStats {
  /** |x| max of each Linear's input, by weight name. */
  readonly inputAmax: Map<string, number>;
  /** Input rows [numRows, K] of each Linear (at most `maxRows` per Linear), by weight name. */
  readonly inputRows: Map<string, { rows: Float32Array; numRows: number }>;
  /** |K| and |V| max per attention layer. */
  readonly kAmax: number[];
  readonly vAmax: number[];
  numTokens: number;
}

const IN = 'calib.in.', K = 'calib.k.', V = 'calib.v.';

/** `graph` with each Linear input and attention K/V marked as outputs. */
function withProbes(graph: GraphDef): GraphDef {
  const index = indexGraph(graph);
  const outputs = [...graph.outputs];
  graph.nodes.forEach((node, at) => {
    const m = matchLinear(index, graph.nodes, at);
    if (m && !outputs.some((o) => o.name === IN + m.weightName)) outputs.push({ name: IN + m.weightName, tensor: m.input });
    if (node.op === 'attention') {
      outputs.push({ name: `${K}${String(node.attrs['layer'])}`, tensor: node.inputs[1]! });
      outputs.push({ name: `${V}${String(node.attrs['layer'])}`, tensor: node.inputs[2]! });
    }
  });
  return { ...graph, outputs };
}

const int32 = (v: number[]): HostTensor => ({ dtype: 'int32', shape: [v.length], data: Int32Array.from(v) });

function prefillStep(ids: number[]): StepInputs {
  const positions = ids.map((_, i) => i);
  const blocks = Int32Array.from({ length: Math.ceil(ids.length / 16) }, (_, i) => i);
  return {
    tensors: { input_ids: int32(ids), positions: int32(positions), logits_indices: int32([ids.length - 1]) },
    attention: { seqs: [{ queryStart: 0, numQueryTokens: ids.length, contextLen: ids.length, blockTable: blocks }], slotMapping: Int32Array.from(positions) },
  };
}

/** Runs the calibration prompts; `maxRows` bounds the rows kept per Linear (0: none). */
export function calibrate(graph: GraphDef, weights: WeightStore, model: ModelConfig, prompts: readonly number[][], maxRows: number): CalibrationStats {
  const maxLen = Math.max(1, ...prompts.map((p) => p.length));
  const engine = new Builder().buildEngine(withProbes(graph), {
    target: 'cpu', weights, model, passes: [],
    settings: { maxBatchSize: 1, maxInputLen: maxLen, maxOutputLen: 1, maxNumTokens: maxLen, dtype: 'float32' },
  });
  const kvCache = { numLayers: model.numLayers, numKvHeads: model.numKvHeads, headDim: model.headDim, numBlocks: Math.ceil(maxLen / 16), tokensPerBlock: 16, dtype: 'float32' as const };
  const ctx = createCpuBackend().createContext(engine, { kvCache });
  const stats: CalibrationStats = {
    inputAmax: new Map(), inputRows: new Map(), kAmax: new Array<number>(model.numLayers).fill(0), vAmax: new Array<number>(model.numLayers).fill(0), numTokens: 0,
  };
  const rows = new Map<string, Float32Array[]>();
  try {
    for (const ids of prompts) {
      if (ids.length === 0) continue;
      const out = ctx.run(prefillStep(ids));
      stats.numTokens += ids.length;
      for (const [name, t] of Object.entries(out)) record(stats, rows, name, t, maxRows);
    }
  } finally {
    ctx.dispose();
  }
  for (const [name, list] of rows) {
    const k = list[0]!.length;
    const all = new Float32Array(list.length * k);
    list.forEach((r, i) => all.set(r, i * k));
    stats.inputRows.set(name, { rows: all, numRows: list.length });
  }
  return stats;
}

function record(stats: CalibrationStats, rows: Map<string, Float32Array[]>, name: string, t: HostTensor, maxRows: number): void {
  const amax = amaxOf(t.data);
  if (name.startsWith(K)) stats.kAmax[Number(name.slice(K.length))] = Math.max(stats.kAmax[Number(name.slice(K.length))]!, amax);
  else if (name.startsWith(V)) stats.vAmax[Number(name.slice(V.length))] = Math.max(stats.vAmax[Number(name.slice(V.length))]!, amax);
  else if (name.startsWith(IN)) {
    const w = name.slice(IN.length);
    stats.inputAmax.set(w, Math.max(stats.inputAmax.get(w) ?? 0, amax));
    if (maxRows === 0) return;
    const k = t.shape[t.shape.length - 1]!;
    const list = rows.get(w) ?? [];
    for (let r = 0; r * k < t.data.length && list.length < maxRows; r++) list.push(Float32Array.from(t.data.subarray(r * k, (r + 1) * k)));
    rows.set(w, list);
  }
}
