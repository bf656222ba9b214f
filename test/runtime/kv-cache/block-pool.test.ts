import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashBlock } from '../../../src/runtime/kv-cache/block-hash.js';
import { BlockPool } from '../../../src/runtime/kv-cache/block-pool.js';

describe('BlockPool (exact ids)', () => {
  it('allocates in id order and reuses freed blocks in LRU order', () => {
    const pool = new BlockPool(4);
    expect([pool.allocate(), pool.allocate(), pool.allocate()]).toEqual([0, 1, 2]);
    expect(pool.freeOrder()).toEqual([3]);
    pool.release(2);
    pool.release(0);
    expect(pool.freeOrder()).toEqual([3, 2, 0]);
    expect([pool.allocate(), pool.allocate(), pool.allocate()]).toEqual([3, 2, 0]);
    expect(pool.numFree).toBe(0);
    expect(() => pool.allocate()).toThrow(/empty pool/);
    pool.checkIntegrity();
  });

  it('keeps cached blocks while free, revives them on a hit, evicts the least recently freed first', () => {
    const pool = new BlockPool(4);
    const [a, b, c] = [pool.allocate(), pool.allocate(), pool.allocate()];
    const ha = hashBlock(null, [1, 2]);
    const hb = hashBlock(ha, [3, 4]);
    const hc = hashBlock(hb, [5, 6]);
    pool.cache(a, ha);
    pool.cache(b, hb);
    pool.cache(c, hc);
    // Freed last block first (as the manager does): c, then b, then a.
    pool.release(c);
    pool.release(b);
    pool.release(a);
    expect(pool.freeOrder()).toEqual([3, 2, 1, 0]);
    expect(pool.numCached).toBe(3);
    // A hit on b takes it out of the middle of the queue.
    expect(pool.lookup(hb)).toBe(1);
    pool.touch(1);
    expect(pool.freeOrder()).toEqual([3, 2, 0]);
    expect(pool.refCount(1)).toBe(1);
    // Allocation takes 3 (never cached), then 2 (evicting hc), then 0 (evicting ha).
    expect(pool.allocate()).toBe(3);
    expect(pool.allocate()).toBe(2);
    expect(pool.lookup(hc)).toBeUndefined();
    expect(pool.lookup(ha)).toBe(0);
    expect(pool.allocate()).toBe(0);
    expect(pool.lookup(ha)).toBeUndefined();
    expect(pool.lookup(hb)).toBe(1);
    expect(pool.numCached).toBe(1);
    pool.checkIntegrity();
  });

  it('shares a block by ref count; it is free only when the last holder releases it', () => {
    const pool = new BlockPool(2);
    const id = pool.allocate();
    pool.touch(id);
    pool.release(id);
    expect(pool.freeOrder()).toEqual([1]);
    pool.release(id);
    expect(pool.freeOrder()).toEqual([1, 0]);
    expect(() => pool.release(id)).toThrow(/ref count is 0/);
  });

  it('first writer wins when two blocks hold the same prefix', () => {
    const pool = new BlockPool(2);
    const h = hashBlock(null, [9]);
    pool.cache(pool.allocate(), h);
    pool.cache(pool.allocate(), h);
    expect(pool.lookup(h)).toBe(0);
    expect(pool.hashOf(1)).toBeNull();
    pool.checkIntegrity();
  });

  it('checkIntegrity detects a corrupted free queue', () => {
    const pool = new BlockPool(3);
    pool.allocate();
    (pool as unknown as { queueLength: number }).queueLength = 3;
    expect(() => pool.checkIntegrity()).toThrow(/free queue holds 2 blocks, length says 3/);
    const other = new BlockPool(2);
    (other as unknown as { refs: Int32Array }).refs[1] = 1;
    expect(() => other.checkIntegrity()).toThrow(/block 1 is free but has ref 1/);
  });

  it('chained hashes name the whole prefix', () => {
    const a = hashBlock(null, [1, 2]);
    expect(hashBlock(a, [3, 4])).not.toBe(hashBlock(hashBlock(null, [9, 9]), [3, 4]));
    expect(hashBlock(a, [3, 4])).toBe(hashBlock(hashBlock(null, [1, 2]), [3, 4]));
    expect(hashBlock(null, [1, 2])).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('BlockPool (properties)', () => {
  it('never holds a block both free and referenced, refs never go negative', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('alloc' as const) }),
      fc.record({ kind: fc.constant('touch' as const), i: fc.nat() }),
      fc.record({ kind: fc.constant('release' as const), i: fc.nat() }),
      fc.record({ kind: fc.constant('cache' as const), i: fc.nat(), key: fc.nat(5) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { maxLength: 80 }), (size, ops) => {
        const pool = new BlockPool(size);
        const held: number[] = [];
        for (const o of ops) {
          if (o.kind === 'alloc' && pool.numFree > 0) held.push(pool.allocate());
          if (o.kind === 'touch' && held.length > 0) {
            const id = held[o.i % held.length]!;
            pool.touch(id);
            held.push(id);
          }
          if (o.kind === 'release' && held.length > 0) pool.release(held.splice(o.i % held.length, 1)[0]!);
          if (o.kind === 'cache' && held.length > 0) pool.cache(held[o.i % held.length]!, hashBlock(null, [o.key]));
          pool.checkIntegrity();
          expect(pool.numFree).toBe(size - new Set(held).size);
        }
        for (const id of held) pool.release(id);
        pool.checkIntegrity();
        expect(pool.numFree).toBe(size);
      }),
      { numRuns: 200 },
    );
  });
});
