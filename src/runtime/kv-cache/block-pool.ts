/**
 * BlockPool: the bottom layer of the paged KV cache. Owns block ids, their reference counts, an
 * O(1) free queue and the prefix-cache map. It holds no tensors: the backend owns the memory and
 * only ever sees block ids.
 *
 * Free queue: a doubly-linked list in LRU order. A block whose ref count drops to 0 goes to the
 * tail; allocation takes the head. A freed block keeps its cached hash while it waits in the queue,
 * so a prefix hit can revive it (removing it from the middle of the queue, O(1)); allocation evicts
 * the head's hash. Hence cached blocks are evicted least-recently-freed first, and only when free.
 */
import assert from 'node:assert/strict';
import type { BlockHash } from './block-hash.js';

const NONE = -1;

/** One pool change, as recorded while a journal is open (see `BlockPool.beginJournal`). */
type Change =
  | { readonly op: 'allocate'; readonly id: number; readonly hash: BlockHash | null }
  | { readonly op: 'touch'; readonly id: number; readonly wasFree: boolean; readonly prev: number; readonly next: number }
  | { readonly op: 'release'; readonly id: number }
  | { readonly op: 'cache'; readonly id: number; readonly hash: BlockHash };

export class BlockPool {
  readonly numBlocks: number;
  private readonly refs: Int32Array;
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly inQueue: Uint8Array;
  private head = NONE;
  private tail = NONE;
  private queueLength = 0;
  private readonly hashOfBlock: (BlockHash | null)[];
  private readonly blockOfHash = new Map<BlockHash, number>();
  private journal: Change[] | null = null;

  constructor(numBlocks: number) {
    assert.ok(Number.isInteger(numBlocks) && numBlocks > 0, `numBlocks must be a positive integer, got ${numBlocks}`);
    this.numBlocks = numBlocks;
    this.refs = new Int32Array(numBlocks);
    this.prev = new Int32Array(numBlocks).fill(NONE);
    this.next = new Int32Array(numBlocks).fill(NONE);
    this.inQueue = new Uint8Array(numBlocks);
    this.hashOfBlock = new Array<BlockHash | null>(numBlocks).fill(null);
    for (let id = 0; id < numBlocks; id++) this.pushTail(id);
  }

  /** Blocks that can be allocated now (free, cached or not). */
  get numFree(): number {
    return this.queueLength;
  }

  /** Blocks holding a prefix-cache key (in use or free). */
  get numCached(): number {
    return this.blockOfHash.size;
  }

  refCount(id: number): number {
    return this.refs[id] ?? 0;
  }

  hashOf(id: number): BlockHash | null {
    return this.hashOfBlock[id] ?? null;
  }

  /** Takes the least recently freed block (evicting its cached key); ref count becomes 1. */
  allocate(): number {
    const id = this.head;
    assert.ok(id !== NONE, 'BlockPool.allocate on an empty pool: callers must check numFree first');
    this.journal?.push({ op: 'allocate', id, hash: this.hashOfBlock[id] ?? null });
    this.unlink(id);
    this.evictHash(id);
    this.refs[id] = 1;
    return id;
  }

  /** Adds a reference (prefix hit or fork). A free cached block is revived out of the queue. */
  touch(id: number): void {
    const wasFree = this.refs[id] === 0;
    this.journal?.push({ op: 'touch', id, wasFree, prev: this.prev[id] ?? NONE, next: this.next[id] ?? NONE });
    if (wasFree) this.unlink(id);
    this.refs[id] = (this.refs[id] ?? 0) + 1;
  }

  /** Drops a reference; at 0 the block goes to the queue's tail, keeping its cached key. */
  release(id: number): void {
    const ref = this.refs[id] ?? 0;
    assert.ok(ref > 0, `BlockPool.release of block ${id} whose ref count is ${ref}`);
    this.journal?.push({ op: 'release', id });
    this.refs[id] = ref - 1;
    if (ref === 1) this.pushTail(id);
  }

  /** The block cached under `hash`, if any. */
  lookup(hash: BlockHash): number | undefined {
    return this.blockOfHash.get(hash);
  }

  /** Records that block `id` (full, in use) holds the prefix keyed `hash`. First writer wins. */
  cache(id: number, hash: BlockHash): void {
    if (this.hashOfBlock[id] !== null || this.blockOfHash.has(hash)) return;
    this.journal?.push({ op: 'cache', id, hash });
    this.hashOfBlock[id] = hash;
    this.blockOfHash.set(hash, id);
  }

  /**
   * Starts recording every change so `rollback()` can undo them exactly (ref counts, free-queue
   * order, prefix-cache keys), for speculative scheduling. One journal at a time; `endJournal()`
   * keeps the changes.
   */
  beginJournal(): void {
    assert.ok(this.journal === null, 'BlockPool.beginJournal while a journal is open');
    this.journal = [];
  }

  /** Keeps the changes made since `beginJournal()` and stops recording. */
  endJournal(): void {
    this.journal = null;
  }

  /** Undoes every change since `beginJournal()`, newest first, and stops recording. */
  rollback(): void {
    const journal = this.journal;
    assert.ok(journal, 'BlockPool.rollback without a journal');
    this.journal = null;
    for (let i = journal.length - 1; i >= 0; i--) this.undo(journal[i] as Change);
  }

  /** Free-queue contents head to tail (allocation order), for tests and debugging. */
  freeOrder(): number[] {
    const out: number[] = [];
    for (let id = this.head; id !== NONE; id = this.next[id] ?? NONE) out.push(id);
    return out;
  }

  /** Throws when an invariant is broken. O(numBlocks). */
  checkIntegrity(): void {
    const seen = new Set<number>();
    let last = NONE;
    for (let id = this.head; id !== NONE; id = this.next[id] ?? NONE) {
      if (seen.has(id)) throw new Error(`BlockPool integrity: free queue has a cycle at block ${id}`);
      seen.add(id);
      if (this.prev[id] !== last) throw new Error(`BlockPool integrity: block ${id} prev link is broken`);
      if (this.refs[id] !== 0) throw new Error(`BlockPool integrity: block ${id} is free but has ref ${this.refs[id]}`);
      last = id;
    }
    if (last !== this.tail) throw new Error('BlockPool integrity: tail does not end the free queue');
    if (seen.size !== this.queueLength) {
      throw new Error(`BlockPool integrity: free queue holds ${seen.size} blocks, length says ${this.queueLength}`);
    }
    for (let id = 0; id < this.numBlocks; id++) {
      const ref = this.refs[id] ?? 0;
      if (ref < 0) throw new Error(`BlockPool integrity: block ${id} has negative ref ${ref}`);
      if (ref === 0 && !seen.has(id)) throw new Error(`BlockPool integrity: block ${id} has ref 0 but is not free`);
      if ((this.inQueue[id] === 1) !== seen.has(id)) throw new Error(`BlockPool integrity: block ${id} queue flag is wrong`);
      const hash = this.hashOfBlock[id];
      if (hash !== null && hash !== undefined && this.blockOfHash.get(hash) !== id) {
        throw new Error(`BlockPool integrity: block ${id} has hash ${hash} the map does not point back to`);
      }
    }
    for (const [hash, id] of this.blockOfHash) {
      if (this.hashOfBlock[id] !== hash) throw new Error(`BlockPool integrity: map entry ${hash} → ${id} is stale`);
    }
  }

  /** Reverts one change; the pool is exactly as right after it (later changes are undone already). */
  private undo(c: Change): void {
    const { id } = c;
    if (c.op === 'allocate') {
      this.refs[id] = 0;
      this.insertBetween(id, NONE, this.head);
      if (c.hash !== null) {
        this.hashOfBlock[id] = c.hash;
        this.blockOfHash.set(c.hash, id);
      }
    } else if (c.op === 'touch') {
      this.refs[id] = (this.refs[id] ?? 0) - 1;
      if (c.wasFree) this.insertBetween(id, c.prev, c.next);
    } else if (c.op === 'release') {
      if (this.refs[id] === 0) this.unlink(id);
      this.refs[id] = (this.refs[id] ?? 0) + 1;
    } else {
      this.hashOfBlock[id] = null;
      this.blockOfHash.delete(c.hash);
    }
  }

  private insertBetween(id: number, p: number, n: number): void {
    this.prev[id] = p;
    this.next[id] = n;
    if (p === NONE) this.head = id;
    else this.next[p] = id;
    if (n === NONE) this.tail = id;
    else this.prev[n] = id;
    this.inQueue[id] = 1;
    this.queueLength++;
  }

  private evictHash(id: number): void {
    const hash = this.hashOfBlock[id];
    if (hash === null || hash === undefined) return;
    this.blockOfHash.delete(hash);
    this.hashOfBlock[id] = null;
  }

  private pushTail(id: number): void {
    this.insertBetween(id, this.tail, NONE);
  }

  private unlink(id: number): void {
    assert.ok(this.inQueue[id] === 1, `BlockPool: block ${id} is not in the free queue`);
    const p = this.prev[id] ?? NONE;
    const n = this.next[id] ?? NONE;
    if (p === NONE) this.head = n;
    else this.next[p] = n;
    if (n === NONE) this.tail = p;
    else this.prev[n] = p;
    this.prev[id] = NONE;
    this.next[id] = NONE;
    this.inQueue[id] = 0;
    this.queueLength--;
  }
}
