import { describe, expect, it } from 'vitest';
import { createFilteredWeightStore, createMapWeightStore, createMergedWeightStore } from '../../src/builder/weights.js';
import type { HostTensor } from '../../src/backends/types.js';
import type { WeightStore } from '../../src/engine/types.js';
import { ConfigError } from '../../src/errors/index.js';

const t = (dtype: HostTensor['dtype'], shape: number[], values: number[]): HostTensor => ({
  dtype, shape, data: dtype === 'float32' ? Float32Array.from(values) : Uint16Array.from(values),
});

function counting(base: WeightStore): { store: WeightStore; gets: string[] } {
  const gets: string[] = [];
  return { gets, store: { ...base, get: (n) => { gets.push(n); return base.get(n); } } };
}

describe('merged weight store', () => {
  it('concatenates rows on demand, in part order, without converting', () => {
    const { store, gets } = counting(createMapWeightStore({ a: t('bfloat16', [1, 2], [1, 2]), b: t('bfloat16', [2, 2], [3, 4, 5, 6]) }));
    const merged = createMergedWeightStore(store, new Map([['ab', { parts: ['b', 'a'], shape: [3, 2], dtype: 'bfloat16' as const }]]));
    expect(gets).toEqual([]); // nothing built yet
    expect(merged.has('ab')).toBe(true);
    expect(merged.names()).toEqual(['a', 'b', 'ab']);
    const ab = merged.get('ab');
    expect(ab.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(ab.data)).toEqual([3, 4, 5, 6, 1, 2]);
    expect(ab.shape).toEqual([3, 2]);
    expect(gets).toEqual(['b', 'a']);
  });

  it('refuses to merge parts of different dtypes', () => {
    const base = createMapWeightStore({ a: t('float32', [1, 2], [1, 2]), b: t('bfloat16', [1, 2], [3, 4]) });
    const merged = createMergedWeightStore(base, new Map([['ab', { parts: ['a', 'b'], shape: [2, 2], dtype: 'float32' as const }]]));
    expect(() => merged.get('ab')).toThrow(ConfigError);
    expect(() => merged.get('ab')).toThrow("cannot merge 'b' (bfloat16) into 'ab' (float32)");
  });

  it('filtered store hides what the graph no longer reads', () => {
    const f = createFilteredWeightStore(createMapWeightStore({ a: t('float32', [1], [1]), b: t('float32', [1], [2]) }), new Set(['b']));
    expect(f.names()).toEqual(['b']);
    expect(f.has('a')).toBe(false);
    expect(() => f.get('a')).toThrow(/not used by the built graph/);
  });
});
