import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashFullBlocks } from '../../../src/runtime/kv-cache/block-hash.js';
import { KVCacheManager, bytesPerBlock, numBlocksForBudget } from '../../../src/runtime/kv-cache/kv-cache-manager.js';

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('KVCacheManager (exact ids)', () => {
  it('allocates block tables and reuses a cached prefix, never the whole prompt', () => {
    const kv = new KVCacheManager(8, 4);
    const prompt = range(10);
    expect(kv.canAllocate(0, 10)).toBe(true);
    expect(kv.allocate(0, 10)).toEqual([]);
    expect(kv.blockTable(0)).toEqual([0, 1, 2]);
    kv.commit(0, prompt, 10);
    expect(kv.stats()).toMatchObject({ numUsed: 3, numFree: 5, numCached: 2 });
    // Same first 8 tokens: both full blocks hit.
    const hit = kv.getComputedBlocks([...range(8), 50, 51, 52]);
    expect(hit).toMatchObject({ blocks: [0, 1], numTokens: 8, numLookups: 2 });
    // Exactly 8 tokens: the last must be recomputed, so only the first block is used.
    expect(kv.getComputedBlocks(range(8)).blocks).toEqual([0]);
    kv.allocate(1, 3, hit);
    expect(kv.blockTable(1)).toEqual([0, 1, 3]);
    expect(kv.pool.refCount(0)).toBe(2);
    expect(kv.stats().prefixHitRate).toBe(1);
    kv.free(0);
    kv.free(1);
    // Freed last-first: 2 then 1 then 0 for seq 0; 3, 1, 0 already queued for seq 1.
    expect(kv.pool.freeOrder()).toEqual([4, 5, 6, 7, 2, 3, 1, 0]);
    // A different prompt evicts in that order: 4..7 (never cached), then 2, 3, then cached 1 and 0.
    kv.allocate(2, 32);
    expect(kv.blockTable(2)).toEqual([4, 5, 6, 7, 2, 3, 1, 0]);
    expect(kv.stats().numCached).toBe(0);
    kv.checkIntegrity();
  });

  it('a prefix hit revives cached free blocks and counts them against free space', () => {
    const kv = new KVCacheManager(4, 2);
    kv.allocate(0, 5);
    kv.commit(0, range(5), 5);
    kv.free(0);
    const hit = kv.getComputedBlocks(range(5));
    expect(hit.blocks).toEqual([0, 1]);
    // Reviving 2 cached blocks + 1 new block for token 4 and 2 more for 4 new tokens: 5 > 4.
    expect(kv.canAllocate(1, 5, hit)).toBe(false);
    expect(kv.canAllocate(1, 3, hit)).toBe(true);
    kv.allocate(1, 3, hit);
    // Seq 0 was freed last block first (queue: 3, 2, 1, 0): new blocks come from the head.
    expect(kv.blockTable(1)).toEqual([0, 1, 3, 2]);
    kv.checkIntegrity();
  });

  it('fork shares blocks; the shared partial last block is copied before it is written', () => {
    const kv = new KVCacheManager(6, 4);
    kv.allocate(0, 6);
    kv.fork(0, 1);
    expect(kv.blockTable(1)).toEqual([0, 1]);
    expect(kv.pool.refCount(1)).toBe(2);
    // Seq 1 writes position 6 into shared block 1: copy it to a fresh block first.
    expect(kv.canAllocate(1, 1)).toBe(true);
    expect(kv.allocate(1, 1)).toEqual([[1, 2]]);
    expect(kv.blockTable(1)).toEqual([0, 2]);
    // Now block 1 is seq 0's alone: no copy.
    expect(kv.allocate(0, 1)).toEqual([]);
    expect(kv.pool.refCount(0)).toBe(2);
    kv.checkIntegrity();
    // A shared full block never needs a copy: the next token opens a new block.
    kv.allocate(0, 1);
    kv.fork(0, 2);
    expect(kv.allocate(2, 1)).toEqual([]);
    expect(kv.blockTable(2)).toEqual([0, 1, 3]);
    kv.checkIntegrity();
  });

  it('reports fragmentation as unfilled allocated slots over allocated slots', () => {
    const kv = new KVCacheManager(8, 4);
    kv.allocate(0, 5); // 2 blocks, 8 slots, 5 filled
    kv.allocate(1, 4); // 1 block, full
    expect(kv.stats().fragmentation).toBeCloseTo(3 / 12, 12);
    kv.fork(0, 2); // shared blocks count once
    expect(kv.stats().fragmentation).toBeCloseTo(3 / 12, 12);
    kv.free(0);
    kv.free(1);
    kv.free(2);
    expect(kv.stats()).toMatchObject({ fragmentation: 0, numUsed: 0, numFree: 8 });
  });

  it('sizes the pool from a byte budget', () => {
    const spec = { numLayers: 2, numKvHeads: 4, headDim: 8, tokensPerBlock: 32, dtype: 'float16' as const };
    expect(bytesPerBlock(spec)).toBe(2 * 2 * 4 * 8 * 32 * 2);
    expect(numBlocksForBudget(10 * 8192 + 100, spec)).toBe(10);
  });
});

type Op =
  | { kind: 'add'; tokens: number[] }
  | { kind: 'grow'; i: number; n: number }
  | { kind: 'fork'; i: number }
  | { kind: 'free'; i: number };

describe('KVCacheManager (properties)', () => {
  it('keeps every invariant under random add/grow/fork/free; all blocks come back', () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), tokens: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 1, maxLength: 12 }) }),
      fc.record({ kind: fc.constant('grow' as const), i: fc.nat(), n: fc.integer({ min: 1, max: 5 }) }),
      fc.record({ kind: fc.constant('fork' as const), i: fc.nat() }),
      fc.record({ kind: fc.constant('free' as const), i: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const bs = 2;
        const kv = new KVCacheManager(16, bs);
        const live = new Map<number, number[]>();
        let nextId = 0;
        const pick = (i: number): number | undefined => [...live.keys()][i % Math.max(1, live.size)];
        for (const o of ops) {
          if (o.kind === 'add') {
            const hit = kv.getComputedBlocks(o.tokens);
            const n = o.tokens.length - hit.numTokens;
            if (!kv.canAllocate(nextId, n, hit)) continue;
            kv.allocate(nextId, n, hit);
            // Prefix hits share blocks: the table starts with the hit blocks, keyed by this prefix.
            expect(kv.blockTable(nextId).slice(0, hit.blocks.length)).toEqual(hit.blocks);
            const keys = hashFullBlocks(o.tokens, bs);
            hit.blocks.forEach((b, j) => expect(kv.pool.hashOf(b)).toBe(keys[j]));
            kv.commit(nextId, o.tokens, o.tokens.length);
            live.set(nextId++, [...o.tokens]);
          } else if (o.kind === 'grow') {
            const id = pick(o.i);
            if (id === undefined || !kv.canAllocate(id, o.n)) continue;
            kv.allocate(id, o.n);
            const toks = live.get(id)!;
            toks.push(...Array<number>(o.n).fill(id % 2));
            kv.commit(id, toks, toks.length);
          } else if (o.kind === 'fork') {
            const id = pick(o.i);
            if (id === undefined) continue;
            kv.fork(id, nextId);
            live.set(nextId++, [...live.get(id)!]);
          } else {
            const id = pick(o.i);
            if (id === undefined) continue;
            kv.free(id);
            live.delete(id);
          }
          kv.checkIntegrity(); // ref counts = owners, no block free and owned, queue consistent
          for (const [id, toks] of live) expect(kv.blockTable(id)).toHaveLength(Math.ceil(toks.length / bs));
        }
        for (const id of live.keys()) kv.free(id);
        kv.checkIntegrity();
        expect(kv.stats()).toMatchObject({ numFree: 16, numUsed: 0 });
      }),
      { numRuns: 150 },
    );
  });
});
