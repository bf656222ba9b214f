/**
 * quantize: rewrites each Linear (`matmul` with transposeB on a named weight `<base>.weight`)
 * into `fp8_matmul` or `wo_matmul` over the weights of quant/types.ts, and marks `attention`
 * nodes for an fp8 KV cache. Weights already in the store as `<base>.qweight` (an imported,
 * pre-quantized checkpoint) are used as they are; otherwise `<base>.weight` is quantized here
 * (lazily, when the engine writer or a backend reads the new weights). Runs before merge-qkv /
 * merge-gate-up, so quantized projections stay unmerged (those passes match plain matmuls).
 */
import type { HostTensor } from '../../backends/types.js';
import type { WeightStore } from '../../engine/types.js';
import { ConfigError } from '../../errors/index.js';
import { toFloat32 } from '../../graph/dtype.js';
import type { Attrs, DType, GraphDef, NodeDef } from '../../graph/types.js';
import { fp8ActivationScale, quantizeFp8Weight, quantizeWo } from '../../quant/numerics.js';
import { linearBase, Q, type QuantFormat } from '../../quant/types.js';
import { GraphRewriter, indexGraph } from '../graph-edit.js';
import { matchLinear, plural } from './common.js';
import type { Pass, PassResult } from './types.js';

export interface QuantizePassConfig {
  /** null: only pre-quantized weights are rewritten (and the KV cache, if `kv`). */
  readonly format: QuantFormat | null;
  readonly fp8WeightScale: 'tensor' | 'channel';
  readonly fp8Activation: 'static' | 'dynamic';
  readonly groupSize: number;
  /** Calibrated absolute maximum of each Linear's input, by weight name (static fp8). */
  readonly inputAmax: ReadonlyMap<string, number>;
  /** AWQ per-input-channel scales s (weight quantized as W·diag(s), input as x / s), by weight name. */
  readonly awqScales: ReadonlyMap<string, Float32Array>;
  /** fp8 KV cache scales per layer; null keeps the cache dtype. */
  readonly kv: { readonly kScales: readonly number[]; readonly vScales: readonly number[] } | null;
  /** Weight names left unquantized. */
  readonly excluded: readonly string[];
}

type Lazy = () => HostTensor;

/** Declares weight `name` with `shape`/`dtype` in the graph and registers its lazy value. */
interface NewWeights {
  add(name: string, shape: readonly number[], dtype: DType, value: Lazy): number;
}

function once<T>(f: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= f());
}

function floatWeight(store: WeightStore, name: string): Float32Array {
  const t = store.get(name);
  return t.data instanceof Float32Array && t.dtype === 'float32' ? t.data : toFloat32(t.dtype, t.data);
}

function scaleColumns(w: Float32Array, n: number, k: number, s: Float32Array): Float32Array {
  return Float32Array.from(w, (v, i) => v * s[i % k]!);
}

function quantizedInputs(cfg: QuantizePassConfig, store: WeightStore, name: string, n: number, k: number, nw: NewWeights): { op: string; inputs: number[]; attrs: Attrs } {
  const base = linearBase(name)!;
  const format = cfg.format!;
  if (format === 'fp8') {
    const q = once(() => quantizeFp8Weight(floatWeight(store, name), n, k, cfg.fp8WeightScale === 'channel'));
    const inputs = [
      nw.add(Q.qweight(base), [n, k], 'fp8e4m3', () => ({ dtype: 'fp8e4m3', shape: [n, k], data: q().codes })),
      nw.add(Q.weightScale(base), [cfg.fp8WeightScale === 'channel' ? n : 1], 'float32', () => ({ dtype: 'float32', shape: [q().scales.length], data: q().scales })),
    ];
    if (cfg.fp8Activation === 'static') {
      const amax = cfg.inputAmax.get(name);
      if (amax === undefined) throw new ConfigError(`quantize: no calibrated input range for '${name}'; static fp8 activation scales need --calib_size > 0 (or use --fp8_activation dynamic)`);
      const scale = Float32Array.of(fp8ActivationScale(amax));
      inputs.push(nw.add(Q.inputScale(base), [1], 'float32', () => ({ dtype: 'float32', shape: [1], data: scale })));
    }
    return { op: 'fp8_matmul', inputs, attrs: { activationScale: cfg.fp8Activation } };
  }
  const bits = format === 'int8_wo' ? 8 : 4;
  const awq = cfg.awqScales.get(name);
  const q = once(() => {
    const w = floatWeight(store, name);
    return quantizeWo(awq ? scaleColumns(w, n, k, awq) : w, n, k, bits, cfg.groupSize);
  });
  const g = Math.ceil(k / cfg.groupSize);
  const qShape = [n, bits === 8 ? k : Math.ceil(k / 2)];
  const inputs = [
    nw.add(Q.qweight(base), qShape, bits === 8 ? 'int8' : 'uint8', () => ({ dtype: bits === 8 ? 'int8' : 'uint8', shape: qShape, data: q().qweight })),
    nw.add(Q.weightScale(base), [n, g], 'float32', () => ({ dtype: 'float32', shape: [n, g], data: q().scales })),
  ];
  if (awq) {
    const pre = Float32Array.from(awq, (s) => 1 / s);
    inputs.push(nw.add(Q.preScale(base), [k], 'float32', () => ({ dtype: 'float32', shape: [k], data: pre })));
  }
  return { op: 'wo_matmul', inputs, attrs: { bits, groupSize: cfg.groupSize, inFeatures: k, hasZeros: false, hasPreScale: awq !== undefined } };
}

/** A pre-quantized weight's node, from the tensors the store holds (dtype tells the format). */
function importedInputs(store: WeightStore, base: string, k: number, nw: NewWeights): { op: string; inputs: number[]; attrs: Attrs } {
  const declare = (name: string): number => {
    const t = store.get(name);
    return nw.add(name, t.shape, t.dtype, () => store.get(name));
  };
  const qw = store.get(Q.qweight(base));
  const inputs = [declare(Q.qweight(base)), declare(Q.weightScale(base))];
  if (qw.dtype === 'fp8e4m3') {
    const hasInput = store.has(Q.inputScale(base));
    if (hasInput) inputs.push(declare(Q.inputScale(base)));
    return { op: 'fp8_matmul', inputs, attrs: { activationScale: hasInput ? 'static' : 'dynamic' } };
  }
  const bits = qw.dtype === 'int8' ? 8 : 4;
  const scale = store.get(Q.weightScale(base));
  const groupSize = Math.ceil(k / scale.shape[1]!);
  const hasZeros = store.has(Q.zeros(base)), hasPre = store.has(Q.preScale(base));
  if (hasZeros) inputs.push(declare(Q.zeros(base)));
  if (hasPre) inputs.push(declare(Q.preScale(base)));
  return { op: 'wo_matmul', inputs, attrs: { bits, groupSize, inFeatures: k, hasZeros, hasPreScale: hasPre } };
}

function markAttention(node: NodeDef, kv: NonNullable<QuantizePassConfig['kv']>): NodeDef {
  const layer = node.attrs['layer'] as number;
  const kScale = kv.kScales[layer] ?? 1, vScale = kv.vScales[layer] ?? 1;
  return { ...node, attrs: { ...node.attrs, kvCacheDtype: 'fp8e4m3', kScale, vScale } };
}

export function createQuantizePass(cfg: QuantizePassConfig): Pass {
  return (graph: GraphDef, weights: WeightStore): PassResult => {
    const index = indexGraph(graph);
    const rw = new GraphRewriter(graph);
    const lazy = new Map<string, Lazy>();
    const nw: NewWeights = {
      add: (name, shape, dtype, value) => {
        lazy.set(name, once(value));
        return rw.addTensor({ name, shape: [...shape], dtype, kind: 'weight' });
      },
    };
    const counts = new Map<string, number>();
    graph.nodes.forEach((node, at) => {
      const m = matchLinear(index, graph.nodes, at);
      const base = m ? linearBase(m.weightName) : undefined;
      if (!m || !base || cfg.excluded.includes(m.weightName)) return;
      const k = index.tensor(m.weight).shape[1] as number;
      const imported = weights.has(Q.qweight(base));
      if (!imported && cfg.format === null) return;
      const q = imported ? importedInputs(weights, base, k, nw) : quantizedInputs(cfg, weights, m.weightName, m.outFeatures, k, nw);
      rw.replace(at, [rw.makeNode({ op: q.op, inputs: [m.input, ...q.inputs], attrs: q.attrs, reuse: [node.outputs[0]!], ...(node.name ? { name: node.name } : {}) })]);
      counts.set(q.op, (counts.get(q.op) ?? 0) + 1);
    });
    let numKv = 0;
    let out = rw.finish();
    if (cfg.kv) {
      const kv = cfg.kv;
      out = { ...out, nodes: out.nodes.map((n) => (n.op === 'attention' ? (numKv++, markAttention(n, kv)) : n)) };
    }
    const store: WeightStore = {
      names: () => [...weights.names(), ...[...lazy.keys()].filter((n) => !weights.has(n))],
      has: (name) => lazy.has(name) || weights.has(name),
      get: (name) => lazy.get(name)?.() ?? weights.get(name),
    };
    const done = [...counts].map(([op, n]) => `${plural(n, 'linear')} → ${op}`).join(', ') || 'no linears rewritten';
    const kvLine = cfg.kv ? `; fp8 KV cache on ${plural(numKv, 'attention layer')}` : '';
    return { graph: out, weights: store, log: [`quantize: ${done} (kept unquantized: ${cfg.excluded.join(', ')})${kvLine}`] };
  };
}
