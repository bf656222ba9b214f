/**
 * Pure part of scripts/cuda/profile-ops.ts (tested on the CPU): bytes and FLOPs of each plan op of
 * one step, grouping per op kind (+ GEMM role and shape), and the markdown report. Bytes count
 * what an op must move at least once (weights, activations read and written, KV read); FLOPs count
 * the useful multiply-adds ×2 of the real rows (not the padded GEMM bucket).
 */
import type { PlanOp } from '../../src/backends/cuda/exec-plan.js';

export interface ModelShape {
  readonly hiddenSize: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
}

/** One sequence of the step: query tokens and context after the step. */
export interface SeqShape { readonly numQueryTokens: number; readonly contextLen: number }

export interface StepShape {
  readonly numTokens: number;
  readonly numLogits: number;
  readonly seqs: readonly SeqShape[];
  /** Bytes per weight element by weight name (absent → 2, bf16). */
  readonly weightBytes: (name: string) => number;
  /** Bytes per KV cache element (2 bf16, 1 fp8). */
  readonly kvBytes: number;
}

export interface OpCost { readonly key: string; readonly kind: string; readonly bytes: number | null; readonly flops: number | null }

/** `model.layers.7.self_attn.qkv_proj.weight` → `self_attn.qkv_proj`. */
export function gemmRole(weight: string): string {
  return weight.replace(/^model\.layers\.\d+\./, '').replace(/^model\./, '').replace(/\.(weight|qweight)$/, '');
}

function rowsOf(op: { rowsDim?: string }, s: StepShape): number {
  return op.rowsDim === 'num_logits' ? s.numLogits : s.numTokens;
}

/** Attention FLOPs (QKᵀ and PV, causal inside each sequence's new tokens) and KV bytes read. */
function attentionCost(m: ModelShape, s: StepShape): { flops: number; kvRead: number } {
  let pairs = 0;
  let kvTokens = 0;
  for (const q of s.seqs) {
    // query j (0-based among the new ones) sees contextLen − numQueryTokens + j + 1 keys
    pairs += q.numQueryTokens * (q.contextLen - q.numQueryTokens) + (q.numQueryTokens * (q.numQueryTokens + 1)) / 2;
    kvTokens += q.contextLen;
  }
  return { flops: 4 * m.numHeads * m.headDim * pairs, kvRead: 2 * kvTokens * m.numKvHeads * m.headDim * s.kvBytes };
}

export function opCost(op: PlanOp, m: ModelShape, s: StepShape, gemmBucket: (rows: number) => number): OpCost {
  const generic = op as { op: string; rowsDim?: string };
  const rows = rowsOf(generic, s);
  const act = 2;
  switch (op.op) {
    case 'gemm': {
      const outB = op.out.f32 ? 4 : 2;
      return {
        key: `gemm ${gemmRole(op.weight)} ${gemmBucket(rows)}×${op.n}×${op.k}`, kind: 'gemm',
        bytes: op.n * op.k * s.weightBytes(op.weight) + rows * op.k * act + rows * op.n * outB, flops: 2 * rows * op.n * op.k,
      };
    }
    case 'norm': {
      const h = op.out.cols;
      return { key: op.residual ? 'add_rmsnorm' : 'rmsnorm', kind: 'norm', bytes: rows * h * act * (op.residual ? 4 : 2) + h * act, flops: rows * h * (op.residual ? 5 : 4) };
    }
    case 'silu_mul':
      return { key: 'silu_mul', kind: 'elementwise', bytes: rows * (op.x.cols + op.out.cols) * act, flops: rows * op.out.cols * 5 };
    case 'embedding':
      return { key: 'embedding', kind: 'gather', bytes: 2 * rows * op.out.cols * act, flops: 0 };
    case 'gather':
      return { key: 'gather (logits rows)', kind: 'gather', bytes: 2 * rows * op.out.cols * act, flops: 0 };
    case 'attention': {
      const decode = s.seqs.every((q) => q.numQueryTokens === 1);
      const { flops, kvRead } = attentionCost(m, s);
      const qBytes = s.numTokens * m.numHeads * m.headDim * act;
      const kvNew = s.numTokens * m.numKvHeads * m.headDim;
      // rope_write_kv: q read+written, k/v read, k/v written into the cache; then attention: q, KV, out.
      const bytes = 2 * qBytes + 2 * kvNew * act + 2 * kvNew * s.kvBytes + qBytes + kvRead + qBytes;
      return { key: `attention (${decode ? 'decode' : 'prefill/mixed'}, rope + KV write included)`, kind: 'attention', bytes, flops };
    }
    case 'fp8_gemm': {
      const w = op.n * op.k + (op.perChannel ? 4 * op.n : 4); // e4m3 codes + float32 scales
      return { key: `fp8_gemm ${gemmRole(op.weight)} ${gemmBucket(rows)}×${op.n}×${op.k}`, kind: 'gemm', bytes: w + rows * op.k * act + rows * op.n * act, flops: 2 * rows * op.n * op.k };
    }
    case 'wo_gemm': {
      const w = (op.n * op.k * op.bits) / 8 + 4 * op.n * Math.ceil(op.k / op.groupSize) * (op.zeros ? 1.25 : 1);
      return { key: `wo_gemm int${op.bits}${op.gemv ? ' gemv' : ''} ${gemmRole(op.weight)} ${rows}×${op.n}×${op.k}`, kind: 'gemm', bytes: w + rows * op.k * act + rows * op.n * act, flops: 2 * rows * op.n * op.k };
    }
    case 'silu':
      return { key: 'silu', kind: 'elementwise', bytes: 2 * rows * op.out.cols * act, flops: 4 * rows * op.out.cols };
    case 'binary':
      return { key: op.mul ? 'mul' : 'add', kind: 'elementwise', bytes: rows * op.out.cols * act * (op.y.kind === 'act' ? 3 : 2), flops: rows * op.out.cols };
    default:
      return { key: generic.op, kind: generic.op, bytes: null, flops: null };
  }
}

export interface OpGroup {
  readonly key: string;
  readonly kind: string;
  readonly count: number;
  /** Summed median milliseconds of the group's ops. */
  readonly ms: number;
  readonly bytes: number | null;
  readonly flops: number | null;
  readonly gbPerS: number | null;
  readonly tflopPerS: number | null;
  /** Share of the summed op time. */
  readonly share: number;
}

/** Groups ops (in plan order, with their median ms) by cost key, largest time first. */
export function groupOps(costs: readonly OpCost[], ms: readonly number[]): OpGroup[] {
  const total = ms.reduce((a, b) => a + b, 0);
  const by = new Map<string, { kind: string; count: number; ms: number; bytes: number | null; flops: number | null }>();
  costs.forEach((c, i) => {
    const g = by.get(c.key) ?? { kind: c.kind, count: 0, ms: 0, bytes: 0, flops: 0 };
    g.count++;
    g.ms += ms[i] ?? 0;
    g.bytes = g.bytes === null || c.bytes === null ? null : g.bytes + c.bytes;
    g.flops = g.flops === null || c.flops === null ? null : g.flops + c.flops;
    by.set(c.key, g);
  });
  return [...by.entries()].map(([key, g]) => ({
    key, kind: g.kind, count: g.count, ms: g.ms, bytes: g.bytes, flops: g.flops,
    gbPerS: g.bytes === null || g.ms <= 0 ? null : g.bytes / (g.ms * 1e6),
    tflopPerS: g.flops === null || g.ms <= 0 ? null : g.flops / (g.ms * 1e9),
    share: total > 0 ? g.ms / total : 0,
  })).sort((a, b) => b.ms - a.ms);
}

/** Median of each position across steps (every step has the same op list). */
export function medianPerOp(steps: readonly (readonly number[])[]): number[] {
  const n = steps[0]?.length ?? 0;
  return Array.from({ length: n }, (_, i) => {
    const xs = steps.map((s) => s[i]!).sort((a, b) => a - b);
    const mid = xs.length >> 1;
    return xs.length % 2 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
  });
}

export interface ScenarioProfile {
  readonly name: string;
  readonly numTokens: number;
  readonly numSeqs: number;
  readonly groups: readonly OpGroup[];
  /** Sum of the per-op medians (device time of the ops alone). */
  readonly sumOpsMs: number;
  /** Median device time from the first op's start to the last op's end (eager, queued behind the filler). */
  readonly eagerSpanMs: number;
  /** Median host wall time of one eager runAndSample without the profiler (launches, sync, ids back). */
  readonly eagerWallMs: number;
  /** Median host enqueue time of the profiled step's ops and events. */
  readonly hostEnqueueMs: number;
  /** Profiled steps whose ops were all queued before the GPU reached them (no launch gaps), of all. */
  readonly gapFreeSteps: string;
  /** Median host wall time of one CUDA-graph replay step (runAndSample), or null (mixed steps run eagerly). */
  readonly graphWallMs: number | null;
}

const f = (x: number | null, d = 1): string => (x === null || !Number.isFinite(x) ? '–' : x.toFixed(d));

export function markdownProfile(p: ScenarioProfile): string {
  const head = `### ${p.name} (${p.numTokens} tokens, ${p.numSeqs} sequences)\n\n` +
    `Sum of per-op device times ${f(p.sumOpsMs, 3)} ms (events add ~1 µs per op); profiled span ${f(p.eagerSpanMs, 3)} ms ` +
    `(host enqueue with events ${f(p.hostEnqueueMs, 3)} ms; gap-free steps ${p.gapFreeSteps}); eager step wall without the profiler ${f(p.eagerWallMs, 3)} ms; CUDA-graph step wall ${p.graphWallMs === null ? '– (eager step)' : `${f(p.graphWallMs, 3)} ms`}` +
    (p.graphWallMs === null ? '' : `; graph wall − sum of ops = ${f(p.graphWallMs - p.sumOpsMs, 3)} ms (launch gaps, input upload, sampling, sync)`) + '.\n';
  const rows = p.groups.map((g) =>
    `| ${g.key} | ${g.count} | ${f(g.ms, 3)} | ${f(100 * g.share)}% | ${g.bytes === null ? '–' : (g.bytes / 1e6).toFixed(1)} | ${g.flops === null ? '–' : (g.flops / 1e9).toFixed(2)} | ${f(g.gbPerS, 0)} | ${f(g.tflopPerS, 2)} |`);
  return [head, '| op (kind, GEMM role M×N×K) | count | ms | share | MB | GFLOP | GB/s | TFLOP/s |', '| --- | --- | --- | --- | --- | --- | --- | --- |', ...rows, ''].join('\n');
}
