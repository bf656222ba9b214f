/** The package entry point, exercised exactly as README.md's TypeScript example uses it (keep the two in sync). */
import { describe, expect, it } from 'vitest';
import { Builder, Tensor, functional as F, createCpuBackend, LLM, KilnError } from '../src/index.js';

describe('public API (README example)', () => {
  it("builds and runs the seed's network from the package entry", () => {
    const builder = new Builder();
    const network = builder.createNetwork();
    const x = new Tensor({ name: 'input', shape: ['batch', 3], dtype: 'float32' });
    const w = new Tensor({ name: 'weight', shape: [3, 2], dtype: 'float32' });
    const b = new Tensor({ name: 'bias', shape: [2], dtype: 'float32' });
    network.markOutput('y', F.relu(F.add(F.matmul(x, w), b)));

    const engine = builder.buildEngine(network, { target: 'cpu' });
    const f32 = (shape: number[], values: number[]) => ({ dtype: 'float32' as const, shape, data: new Float32Array(values) });
    const { y } = createCpuBackend().createContext(engine).run({
      tensors: { input: f32([2, 3], [1, 2, 3, 4, 5, 6]), weight: f32([3, 2], [1, -1, 0, 1, 2, -2]), bias: f32([2], [0.5, 1]) },
    });
    expect(y!.shape).toEqual([2, 2]);
    expect(Array.from(y!.data)).toEqual([7.5, 0, 16.5, 0]);
  });

  it('exports the runtime and the typed errors', () => {
    expect(typeof LLM).toBe('function');
    expect(() => new LLM({ engineDir: '/nonexistent/engine' })).toThrow(KilnError);
  });
});
