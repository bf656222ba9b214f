import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatPlanLog, liveIntervals, planMemory, PLAN_ALIGN } from '../../src/builder/memory-plan.js';
import { ConfigError } from '../../src/errors/index.js';
import type { GraphDef, NodeDef, TensorDef } from '../../src/graph/types.js';

const BIND = { num_tokens: 10, num_logits: 2 };

/** A chain x → t1 → t2 → ... where each node reads the previous tensor (and `extra` reads). */
function chain(sizes: number[], extraReads: [number, number][] = []): GraphDef {
  const tensors: TensorDef[] = [{ id: 0, name: 'x', shape: [4], dtype: 'float32', kind: 'input' }];
  const nodes: NodeDef[] = [];
  sizes.forEach((n, i) => {
    tensors.push({ id: i + 1, shape: ['num_tokens', n], dtype: 'float32', kind: 'intermediate' });
    const reads = [i, ...extraReads.filter(([at]) => at === i).map(([, t]) => t)];
    nodes.push({ id: i, op: 'relu', inputs: reads, outputs: [i + 1], attrs: {} });
  });
  return { tensors, nodes, inputs: [0], outputs: [{ name: 'y', tensor: sizes.length }] };
}

describe('planMemory', () => {
  it('reuses a chain of buffers: ping-pong between two slots', () => {
    // 4 tensors of 10 * 64 * 4 = 2560 bytes (a multiple of 256).
    const plan = planMemory(chain([64, 64, 64, 64]), BIND);
    expect(plan.naiveBytes).toBe(4 * 2560);
    expect(plan.peakBytes).toBe(2 * 2560);
    expect(plan.offsets).toEqual({ 1: 0, 2: 2560, 3: 0, 4: 2560 });
  });

  it('keeps a tensor alive until its last reader and aligns to 256 bytes', () => {
    // t1 is read again by node 3, so t1..t4 cannot all share; sizes 10*3*4 = 120 → 256 each.
    const plan = planMemory(chain([3, 3, 3, 3], [[3, 1]]), BIND);
    expect(Object.values(plan.offsets).every((o) => o % PLAN_ALIGN === 0)).toBe(true);
    expect(plan.offsets['1']).toBe(0);
    expect(plan.offsets['3']).not.toBe(0);
    expect(plan.offsets['4']).not.toBe(0);
    expect(plan.peakBytes).toBe(3 * 256);
  });

  it('names unknown symbolic dims', () => {
    const g = chain([4]);
    const t = g.tensors[1]!;
    const bad: GraphDef = { ...g, tensors: [g.tensors[0]!, { ...t, shape: ['num_seqs', 4] }] };
    expect(() => planMemory(bad, BIND)).toThrow(ConfigError);
    expect(() => planMemory(bad, BIND)).toThrow(/unknown symbolic dim\(s\) 'num_seqs'/);
  });

  it('logs peak vs naive in MiB', () => {
    expect(formatPlanLog({ peakBytes: 1048576, naiveBytes: 3145728, offsets: {} })).toMatch(/^memory plan: peak 1\.00 MiB vs 3\.00 MiB without reuse/);
  });

  it('property: simultaneously live tensors never overlap; peak ≤ naive', () => {
    // Random DAGs: node i reads tensor i (its predecessor) plus random earlier tensors, and has 1-2 outputs.
    const arbGraph = fc.array(
      fc.record({ sizes: fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 2 }), reads: fc.array(fc.nat(), { maxLength: 3 }) }),
      { minLength: 1, maxLength: 40 },
    );
    fc.assert(fc.property(arbGraph, fc.nat(), (specs, outPick) => {
      const tensors: TensorDef[] = [{ id: 0, name: 'x', shape: [1], dtype: 'float32', kind: 'input' }];
      const nodes: NodeDef[] = [];
      specs.forEach((s, i) => {
        const avail = tensors.length;
        const reads = [avail - 1, ...s.reads.map((r) => r % avail)];
        const outs = s.sizes.map((n) => {
          tensors.push({ id: tensors.length, shape: ['num_tokens', n], dtype: 'float16', kind: 'intermediate' });
          return tensors.length - 1;
        });
        nodes.push({ id: i, op: 'x', inputs: reads, outputs: outs, attrs: {} });
      });
      const out = 1 + (outPick % (tensors.length - 1));
      const graph: GraphDef = { tensors, nodes, inputs: [0], outputs: [{ name: 'y', tensor: out }] };
      const plan = planMemory(graph, BIND);
      const ivs = liveIntervals(graph, BIND);
      for (const a of ivs) {
        const oa = plan.offsets[String(a.tensor)]!;
        expect(oa % PLAN_ALIGN).toBe(0);
        expect(oa + a.bytes).toBeLessThanOrEqual(plan.peakBytes);
        for (const b of ivs) {
          if (a === b || a.end < b.start || b.end < a.start) continue;
          const ob = plan.offsets[String(b.tensor)]!;
          expect(oa + a.bytes <= ob || ob + b.bytes <= oa).toBe(true);
        }
      }
      expect(plan.peakBytes).toBeLessThanOrEqual(plan.naiveBytes);
    }), { numRuns: 300 });
  });
});
