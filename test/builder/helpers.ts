/** Shared pieces of the builder tests: seeded weights and running an engine on the CPU backend. */
import { expect } from 'vitest';
import { createCpuBackend } from '../../src/backends/cpu/index.js';
import type { HostTensor } from '../../src/backends/types.js';
import { Builder } from '../../src/builder/builder.js';
import type { NamedPass } from '../../src/builder/passes/index.js';
import { createMapWeightStore } from '../../src/builder/weights.js';
import type { Engine, WeightStore } from '../../src/engine/types.js';
import { fromFloat32 } from '../../src/graph/dtype.js';
import type { Network } from '../../src/graph/network.js';
import type { GraphDef } from '../../src/graph/types.js';

/** Deterministic values in [-1, 1) (a small LCG, so tests need no fixtures). */
export function seeded(seed: number, n: number): Float32Array {
  let s = (seed * 2654435761) >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** Seeded values for every weight of `graph`, stored in each weight's dtype. */
export function weightsFor(graph: GraphDef, seed = 1): WeightStore {
  const out: Record<string, HostTensor> = {};
  graph.tensors.forEach((t, i) => {
    if (t.kind !== 'weight') return;
    const shape = t.shape as number[];
    const f32 = seeded(seed * 1000 + i, shape.reduce((a, b) => a * b, 1));
    out[t.name!] = { dtype: t.dtype, shape, data: fromFloat32(t.dtype, f32) as HostTensor['data'] };
  });
  return createMapWeightStore(out);
}

export function build(network: Network | GraphDef, weights: WeightStore, passes?: readonly NamedPass[]): Engine {
  return new Builder().buildEngine(network, { target: 'cpu', weights, ...(passes ? { passes } : {}) });
}

export function run(engine: Engine, tensors: Record<string, HostTensor>): Record<string, HostTensor> {
  const ctx = createCpuBackend().createContext(engine);
  try {
    return ctx.run({ tensors });
  } finally {
    ctx.dispose();
  }
}

export function ops(engine: Engine | GraphDef): string[] {
  const g = 'graph' in engine ? engine.graph : engine;
  return g.nodes.map((n) => n.op);
}

/**
 * Outputs of `after` equal those of `before`. The rewritten graphs compute the same sums of
 * products; only the blocking of float32 accumulations may differ, so 1e-5 absolute (values are
 * O(1)) is a tight bound that a wrong merge order or a missing bias would miss by far.
 */
export function expectSameOutputs(before: Record<string, HostTensor>, after: Record<string, HostTensor>): void {
  expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
  for (const [name, t] of Object.entries(before)) {
    const u = after[name]!;
    expect(u.shape).toEqual(t.shape);
    const a = Array.from(t.data);
    const b = Array.from(u.data);
    expect(a.some((v) => v !== 0)).toBe(true);
    b.forEach((v, i) => expect(Math.abs(v - a[i]!)).toBeLessThanOrEqual(1e-5));
  }
}

export function input(shape: number[], seed = 7): HostTensor {
  return { dtype: 'float32', shape, data: seeded(seed, shape.reduce((a, b) => a * b, 1)) };
}
