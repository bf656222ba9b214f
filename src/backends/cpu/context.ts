/**
 * A loaded engine on the CPU: weights decoded once, an optional paged KV cache, and a
 * node-by-node interpreter. Symbolic dims are bound from the input tensors at each run();
 * an intermediate is dropped right after its last reader runs.
 */
import { BackendError } from '../../errors/index.js';
import { toFloat32 } from '../../graph/dtype.js';
import { formatShape, ropeScalingAttr } from '../../graph/ops/index.js';
import type { Attrs, GraphDef, Shape } from '../../graph/types.js';
import type { Engine } from '../../engine/types.js';
import type { ContextOptions, ExecutionContext, HostTensor, RowSampling, SampledStep, StepInputs } from '../types.js';
import { numel, type Buf, type CpuData } from './buffer.js';
import { ropeKey, tryGetKernel, type KernelEnv } from './kernels/index.js';
import { RopeTable } from './kernels/rope.js';
import { sampleRows } from './sample.js';
import { CpuKvCache } from './kv-cache.js';
import { loadWeights, type CpuWeights } from './weights.js';

type Bindings = Map<string, number>;

function resolveShape(shape: Shape, bindings: Bindings, what: string): number[] {
  return shape.map((d) => {
    if (typeof d === 'number') return d;
    const v = bindings.get(d);
    if (v === undefined) throw new BackendError(`${what}: symbolic dim '${d}' is not bound by any graph input`);
    return v;
  });
}

/** For each tensor id, the index of the last node reading it (-1: never read; outputs: Infinity). */
/** For each node, the intermediates it reads for the last time (each once), freed after it runs. */
function releasesAfter(graph: GraphDef): number[][] {
  const last = new Array<number>(graph.tensors.length).fill(-1);
  graph.nodes.forEach((node, i) => { for (const id of node.inputs) last[id] = i; });
  for (const o of graph.outputs) last[o.tensor] = Infinity;
  const releases = graph.nodes.map(() => [] as number[]);
  last.forEach((i, id) => { if (i >= 0 && i !== Infinity && graph.tensors[id]!.kind === 'intermediate') releases[i]!.push(id); });
  return releases;
}

/** Bytes of live intermediates; buffers shared by views (reshape) count once. */
class LiveBytes {
  bytes = 0;
  private readonly refs = new Map<CpuData, number>();

  hold(data: CpuData): void {
    const n = this.refs.get(data) ?? 0;
    if (n === 0) this.bytes += data.byteLength;
    this.refs.set(data, n + 1);
  }

  release(data: CpuData): void {
    const n = this.refs.get(data) ?? 0;
    if (n <= 1) {
      this.refs.delete(data);
      this.bytes -= data.byteLength;
    } else {
      this.refs.set(data, n - 1);
    }
  }
}

export class CpuContext implements ExecutionContext {
  private readonly graph: GraphDef;
  private readonly weights: CpuWeights;
  private readonly kvCache: CpuKvCache | undefined;
  private readonly releases: number[][];
  private readonly ropeTables = new Map<string, RopeTable>();
  private peakActivationBytes = 0;
  private disposed = false;

  constructor(engine: Engine, options: ContextOptions = {}) {
    this.graph = engine.graph;
    for (const node of this.graph.nodes) {
      if (!tryGetKernel(node.op)) throw new BackendError(`the CPU backend has no kernel for op '${node.op}' (node ${node.id}); rebuild the engine for this Kiln version`);
    }
    const needsCache = this.graph.nodes.some((n) => n.op === 'attention');
    if (needsCache && !options.kvCache) {
      throw new BackendError('this engine has attention ops and needs a paged KV cache: pass { kvCache: KvCacheSpec } to createContext');
    }
    this.kvCache = options.kvCache ? new CpuKvCache(options.kvCache) : undefined;
    this.weights = loadWeights(this.graph, engine.weights, engine.config.dummyWeights?.seed);
    this.releases = releasesAfter(this.graph);
  }

  run(step: StepInputs): Record<string, HostTensor> {
    if (this.disposed) throw new BackendError('this CPU execution context was disposed');
    if (step.blockCopies && step.blockCopies.length > 0) {
      if (!this.kvCache) throw new BackendError('blockCopies were given but the context has no KV cache');
      this.kvCache.copyBlocks(step.blockCopies);
    }
    const values: (Buf | undefined)[] = new Array(this.graph.tensors.length);
    for (const [id, buf] of this.weights.plain) values[id] = buf;
    // Weights kept only as [N, K]: matmul kernels read them through env.transposedWeight.
    for (const [id, data] of this.weights.transposed) values[id] ??= { data, shape: this.graph.tensors[id]!.shape as number[] };
    const bindings = this.bindInputs(step, values);
    const env = this.kernelEnv(step);
    const live = new LiveBytes();
    this.graph.nodes.forEach((node, i) => {
      const inputs = node.inputs.map((id) => values[id] ?? this.missing(node.op, id));
      const outShapes = node.outputs.map((id) => resolveShape(this.graph.tensors[id]!.shape, bindings, `node ${node.id} (${node.op})`));
      const outs = tryGetKernel(node.op)!(inputs, node, outShapes, env);
      node.outputs.forEach((id, k) => {
        const out = outs[k]!;
        if (out.data.length !== numel(outShapes[k]!)) {
          throw new BackendError(`node ${node.id} (${node.op}) produced ${out.data.length} elements for shape ${formatShape(outShapes[k]!)}; check the input shapes`);
        }
        values[id] = { data: out.data, shape: outShapes[k]! };
        live.hold(out.data);
      });
      this.peakActivationBytes = Math.max(this.peakActivationBytes, live.bytes);
      for (const id of this.releases[i]!) {
        live.release(values[id]!.data);
        values[id] = undefined;
      }
    });
    return this.collectOutputs(values);
  }

  /** Samples on the host with the runtime's sampler functions (the reference for device sampling). */
  readonly sampleOnDevice = true;

  runAndSample(step: StepInputs, sampling: readonly RowSampling[]): SampledStep {
    const logits = this.run(step)['logits'];
    if (!logits || !(logits.data instanceof Float32Array)) throw new BackendError('runAndSample needs an LLM engine with a float32 "logits" output');
    const rows = logits.shape[0] ?? 0;
    if (rows !== sampling.length) throw new BackendError(`runAndSample got ${sampling.length} sampling rows for ${rows} logits rows`);
    return { tokenIds: sampleRows(logits.data, logits.shape[1] ?? 0, sampling) };
  }

  memoryUsage(): { weights: number; kvCache: number; activations: number } {
    return { weights: this.weights.bytes, kvCache: this.kvCache?.bytes ?? 0, activations: this.peakActivationBytes };
  }

  dispose(): void {
    this.disposed = true;
    this.weights.plain.clear();
    this.weights.transposed.clear();
    this.ropeTables.clear();
  }

  /** Checks and converts the named inputs, binding each symbolic dim to its first size seen. */
  private bindInputs(step: StepInputs, values: (Buf | undefined)[]): Bindings {
    const bindings: Bindings = new Map();
    for (const id of this.graph.inputs) {
      const def = this.graph.tensors[id]!;
      const name = def.name!;
      const t = step.tensors[name];
      if (!t) throw new BackendError(`missing graph input '${name}' (expected ${def.dtype} ${formatShape(def.shape)})`);
      if (t.shape.length !== def.shape.length || t.data.length !== numel(t.shape)) {
        throw new BackendError(`input '${name}' has shape [${t.shape.join(', ')}] with ${t.data.length} elements; expected ${formatShape(def.shape)}`);
      }
      def.shape.forEach((d, i) => {
        const got = t.shape[i]!;
        const want = typeof d === 'number' ? d : bindings.get(d) ?? got;
        if (got !== want) throw new BackendError(`input '${name}' dim ${i} (${d}) is ${got}, expected ${want}`);
        if (typeof d === 'string') bindings.set(d, got);
      });
      const isInt = def.dtype === 'int32';
      const data = isInt ? (t.data instanceof Int32Array ? t.data : Int32Array.from(t.data))
        : t.data instanceof Float32Array ? t.data : toFloat32(t.dtype, t.data);
      values[id] = { data, shape: [...t.shape] };
    }
    return bindings;
  }

  private missing(op: string, id: number): never {
    throw new BackendError(`internal: tensor ${id} has no value when running ${op}`);
  }

  private kernelEnv(step: StepInputs): KernelEnv {
    const transposed = this.weights.transposed;
    return {
      kvCache: this.kvCache,
      attention: step.attention,
      transposedWeight: (id) => transposed.get(id),
      ropeTable: (attrs: Attrs) => {
        const key = ropeKey(attrs);
        let table = this.ropeTables.get(key);
        if (!table) {
          table = new RopeTable(attrs['headDim'] as number, attrs['theta'] as number, ropeScalingAttr('rope', attrs['scaling']));
          this.ropeTables.set(key, table);
        }
        return table;
      },
    };
  }

  private collectOutputs(values: (Buf | undefined)[]): Record<string, HostTensor> {
    const result: Record<string, HostTensor> = {};
    for (const o of this.graph.outputs) {
      const buf = values[o.tensor];
      if (!buf) throw new BackendError(`output '${o.name}' was not computed`);
      const dtype = buf.data instanceof Int32Array ? 'int32' : 'float32';
      result[o.name] = { dtype, shape: [...buf.shape], data: buf.data.slice() };
    }
    return result;
  }
}
