/**
 * Activation memory planning by liveness. Every intermediate tensor gets an offset in one arena
 * (bytes, 256-byte aligned), sized at the build's worst case (`num_tokens = maxNumTokens`,
 * `num_logits = maxBatchSize`). A node's outputs are placed while its inputs are still live (so
 * kernels never write over what they read); an input's space is reused after its last reader.
 * Placement is greedy best-fit over the free list, in node order.
 */
import { bytesPerElement } from '../graph/dtype.js';
import type { GraphDef, Shape } from '../graph/types.js';
import { ConfigError } from '../errors/index.js';
import type { BuildSettings, MemoryPlan } from '../engine/types.js';

export const PLAN_ALIGN = 256;

/** Values of the symbolic dims, in elements. */
export type SymbolBindings = Readonly<Record<string, number>>;

export function planBindings(settings: Pick<BuildSettings, 'maxNumTokens' | 'maxBatchSize'>): SymbolBindings {
  return { num_tokens: settings.maxNumTokens, num_logits: settings.maxBatchSize };
}

/** Elements of `shape` at `bindings`; unknown symbols are collected into `unknown`. */
function numElements(shape: Shape, bindings: SymbolBindings, unknown: Set<string>): number {
  let n = 1;
  for (const d of shape) {
    if (typeof d === 'number') n *= d;
    else if (bindings[d] !== undefined) n *= bindings[d];
    else unknown.add(d);
  }
  return n;
}

interface Interval {
  readonly tensor: number;
  readonly bytes: number;
  /** Index of the producing node. */
  readonly start: number;
  /** Index of the last node reading it (or the end, for graph outputs). */
  readonly end: number;
}

/** Live intervals of every intermediate, in node order of definition. */
export function liveIntervals(graph: GraphDef, bindings: SymbolBindings): Interval[] {
  const byId = new Map(graph.tensors.map((t) => [t.id, t]));
  const lastUse = new Map<number, number>();
  graph.nodes.forEach((node, i) => { for (const t of node.inputs) lastUse.set(t, i); });
  for (const o of graph.outputs) lastUse.set(o.tensor, graph.nodes.length);
  const unknown = new Set<string>();
  const out: Interval[] = [];
  graph.nodes.forEach((node, i) => {
    for (const id of node.outputs) {
      const t = byId.get(id);
      if (!t || t.kind !== 'intermediate') continue;
      const raw = numElements(t.shape, bindings, unknown) * bytesPerElement(t.dtype);
      const bytes = Math.max(PLAN_ALIGN, Math.ceil(raw / PLAN_ALIGN) * PLAN_ALIGN);
      out.push({ tensor: id, bytes, start: i, end: Math.max(i, lastUse.get(id) ?? i) });
    }
  });
  if (unknown.size > 0) {
    throw new ConfigError(`memory plan: unknown symbolic dim(s) ${[...unknown].map((s) => `'${s}'`).join(', ')}; the planner binds only ${Object.keys(bindings).join(', ')}`);
  }
  return out;
}

/** A free range of the arena. */
interface Block { offset: number; bytes: number }

/** Arena with a sorted free list; grows at the end when nothing fits. */
class Arena {
  private free: Block[] = [];
  size = 0;

  allocate(bytes: number): number {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.bytes >= bytes && (best < 0 || b.bytes < this.free[best]!.bytes)) best = i;
    }
    if (best >= 0) {
      const b = this.free[best]!;
      const offset = b.offset;
      if (b.bytes === bytes) this.free.splice(best, 1);
      else { b.offset += bytes; b.bytes -= bytes; }
      return offset;
    }
    // Nothing fits: extend a trailing free block if there is one, else grow.
    const last = this.free[this.free.length - 1];
    if (last && last.offset + last.bytes === this.size) {
      this.free.pop();
      this.size = last.offset + bytes;
      return last.offset;
    }
    const offset = this.size;
    this.size += bytes;
    return offset;
  }

  release(offset: number, bytes: number): void {
    let i = 0;
    while (i < this.free.length && this.free[i]!.offset < offset) i++;
    this.free.splice(i, 0, { offset, bytes });
    // Coalesce with neighbours.
    const next = this.free[i + 1];
    if (next && offset + bytes === next.offset) { this.free[i]!.bytes += next.bytes; this.free.splice(i + 1, 1); }
    const prev = this.free[i - 1];
    if (prev && prev.offset + prev.bytes === offset) { prev.bytes += this.free[i]!.bytes; this.free.splice(i, 1); }
  }
}

/** Plans the activation arena of `graph` at `bindings`. */
export function planMemory(graph: GraphDef, bindings: SymbolBindings): MemoryPlan {
  const intervals = liveIntervals(graph, bindings);
  const arena = new Arena();
  const offsets: Record<string, number> = {};
  const endingAt = new Map<number, Interval[]>();
  let cursor = 0;
  for (let step = 0; step < graph.nodes.length; step++) {
    for (; cursor < intervals.length && intervals[cursor]!.start === step; cursor++) {
      const iv = intervals[cursor]!;
      offsets[String(iv.tensor)] = arena.allocate(iv.bytes);
      const list = endingAt.get(iv.end) ?? [];
      list.push(iv);
      endingAt.set(iv.end, list);
    }
    for (const iv of endingAt.get(step) ?? []) arena.release(offsets[String(iv.tensor)]!, iv.bytes);
  }
  const naiveBytes = intervals.reduce((s, iv) => s + iv.bytes, 0);
  return { peakBytes: arena.size, naiveBytes, offsets };
}

export function formatPlanLog(plan: MemoryPlan): string {
  const mib = (b: number): string => (b / (1024 * 1024)).toFixed(2);
  return `memory plan: peak ${mib(plan.peakBytes)} MiB vs ${mib(plan.naiveBytes)} MiB without reuse (${plan.peakBytes} vs ${plan.naiveBytes} bytes, ${Object.keys(plan.offsets).length} tensors)`;
}
