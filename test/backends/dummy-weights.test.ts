/** Seeded dummy weights (`--load_format dummy`): deterministic, N(0, 0.02²), norms exactly 1. */
import { describe, expect, it } from 'vitest';
import { dummyInit, dummyValues, fmix32, tensorSeed } from '../../src/backends/dummy-weights.js';

describe('dummy weights', () => {
  it('are a pure function of (seed, name, index)', () => {
    const a = dummyValues(3, 'model.layers.0.mlp.down_proj.weight', 1000);
    expect(dummyValues(3, 'model.layers.0.mlp.down_proj.weight', 1000)).toEqual(a);
    expect(dummyValues(3, 'model.layers.0.mlp.down_proj.weight', 10)).toEqual(a.subarray(0, 10));
    expect(dummyValues(4, 'model.layers.0.mlp.down_proj.weight', 10)).not.toEqual(a.subarray(0, 10));
    expect(tensorSeed(3, 'a')).not.toBe(tensorSeed(3, 'b'));
  });

  it('draw normal values with std 0.02 and fill norm weights with 1', () => {
    const v = dummyValues(0, 'lm_head.weight', 200_000);
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
    // 200k samples: the sample mean's std is 0.02/√200000 ≈ 4.5e-5; the sample std's ≈ 3.2e-5.
    expect(Math.abs(mean)).toBeLessThan(3e-4);
    expect(Math.abs(std - 0.02)).toBeLessThan(3e-4);
    expect(v.every(Number.isFinite)).toBe(true);
    expect([...dummyValues(0, 'model.layers.3.input_layernorm.weight', 64)].every((x) => x === 1)).toBe(true);
    expect(dummyInit('model.norm.weight')).toEqual({ mean: 1, std: 0 });
  });

  it('use the murmur3 finaliser the CUDA kernel uses', () => {
    expect(fmix32(0)).toBe(0);
    expect(fmix32(1)).toBe(0x514e28b7);
  });
});
