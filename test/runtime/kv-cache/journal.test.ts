import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashBlock } from '../../../src/runtime/kv-cache/block-hash.js';
import { BlockPool } from '../../../src/runtime/kv-cache/block-pool.js';
import { KVCacheManager } from '../../../src/runtime/kv-cache/kv-cache-manager.js';

/** Everything observable about a pool: ref counts, free-queue order, every block's key and the key map. */
function snapshot(pool: BlockPool): unknown {
  const ids = Array.from({ length: pool.numBlocks }, (_, i) => i);
  return {
    refs: ids.map((i) => pool.refCount(i)),
    free: pool.freeOrder(),
    hashes: ids.map((i) => pool.hashOf(i)),
    lookups: ids.map((i) => pool.hashOf(i)).map((h) => (h === null ? null : pool.lookup(h))),
    numCached: pool.numCached,
  };
}

const op = fc.oneof(
  fc.record({ kind: fc.constant('alloc' as const) }),
  fc.record({ kind: fc.constant('touch' as const), i: fc.nat() }),
  fc.record({ kind: fc.constant('revive' as const), key: fc.nat(5) }),
  fc.record({ kind: fc.constant('release' as const), i: fc.nat() }),
  fc.record({ kind: fc.constant('cache' as const), i: fc.nat(), key: fc.nat(5) }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function apply(pool: BlockPool, held: number[], o: Op): void {
  if (o.kind === 'alloc' && pool.numFree > 0) held.push(pool.allocate());
  if (o.kind === 'touch' && held.length > 0) {
    const id = held[o.i % held.length]!;
    pool.touch(id);
    held.push(id);
  }
  if (o.kind === 'revive') {
    // A prefix hit on a cached block, free or not (a free one leaves the middle of the queue).
    const id = pool.lookup(hashBlock(null, [o.key]));
    if (id !== undefined) {
      pool.touch(id);
      held.push(id);
    }
  }
  if (o.kind === 'release' && held.length > 0) pool.release(held.splice(o.i % held.length, 1)[0]!);
  if (o.kind === 'cache' && held.length > 0) pool.cache(held[o.i % held.length]!, hashBlock(null, [o.key]));
}

describe('KV journal (speculative scheduling rollback)', () => {
  it('BlockPool.rollback restores ref counts, free-queue order and prefix keys exactly, whatever ran in between', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { minLength: 10, maxLength: 60 }), fc.array(op, { minLength: 5, maxLength: 40 }), (size, before, during) => {
        const pool = new BlockPool(size);
        const held: number[] = [];
        for (const o of before) apply(pool, held, o);
        const want = snapshot(pool);
        pool.beginJournal();
        const spec = [...held];
        for (const o of during) apply(pool, spec, o);
        pool.rollback();
        pool.checkIntegrity();
        expect(snapshot(pool)).toEqual(want);
        // The journal is closed: further changes stay.
        if (pool.numFree > 0) {
          pool.allocate();
          expect(pool.numFree).toBe(size - new Set(held).size - 1);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('undoes a prefix hit that revived a free block from the middle of the free queue', () => {
    const pool = new BlockPool(4);
    const [a, b] = [pool.allocate(), pool.allocate()];
    pool.cache(a, hashBlock(null, [1]));
    pool.release(a);
    pool.release(b); // a is no longer the tail
    const want = snapshot(pool);
    expect(pool.freeOrder()).toEqual([2, 3, a, b]);
    pool.beginJournal();
    pool.touch(pool.lookup(hashBlock(null, [1]))!);
    pool.allocate();
    pool.rollback();
    expect(snapshot(pool)).toEqual(want);
    pool.checkIntegrity();
  });

  it('KVCacheManager.rollback restores block tables, counters and the pool; endJournal keeps the changes', () => {
    const kv = new KVCacheManager(8, 2, true);
    kv.allocate(0, 5);
    kv.commit(0, [1, 2, 3, 4, 5], 5);
    kv.fork(0, 1);
    const table = (id: number): number[] => [...kv.blockTable(id)];
    const want = { t0: table(0), t1: table(1), n0: kv.numSeqTokens(0), stats: kv.stats(), pool: snapshot(kv.pool) };
    kv.beginJournal();
    kv.allocate(1, 1); // copy-on-write of the shared partial block
    kv.allocate(2, 3, kv.getComputedBlocks([1, 2, 3, 4, 9])); // prefix hit on 2 blocks
    kv.commit(1, [1, 2, 3, 4, 5, 6], 6);
    kv.free(0);
    expect(kv.hasSeq(0)).toBe(false);
    kv.rollback();
    kv.checkIntegrity();
    expect({ t0: table(0), t1: table(1), n0: kv.numSeqTokens(0), stats: kv.stats(), pool: snapshot(kv.pool) }).toEqual(want);
    expect(kv.hasSeq(2)).toBe(false);
    kv.beginJournal();
    kv.allocate(2, 3);
    kv.endJournal();
    expect(kv.numSeqTokens(2)).toBe(3);
    kv.checkIntegrity();
  });
});
