/**
 * KVCacheManager: the middle layer of the paged KV cache. Maps sequences to block tables on top of
 * the BlockPool: prefix-cache lookups, allocation for the tokens a step will write, copy-on-write of
 * a shared partial block, fork, free, and the metrics. `canAllocate` is pure; the scheduler calls
 * `allocate` only after it decided. Like the pool, it holds no tensors.
 */
import assert from 'node:assert/strict';
import type { KvCacheSpec } from '../../backends/types.js';
import { bytesPerElement } from '../../graph/dtype.js';
import { type BlockHash, hashBlock } from './block-hash.js';
import { BlockPool } from './block-pool.js';
import type { ExecutorStats } from '../api.js';

export const DEFAULT_TOKENS_PER_BLOCK = 32;

/** Bytes of one KV block: K and V, every layer, every KV head, `tokensPerBlock` tokens. */
export function bytesPerBlock(spec: Omit<KvCacheSpec, 'numBlocks'>): number {
  return 2 * spec.numLayers * spec.numKvHeads * spec.headDim * spec.tokensPerBlock * bytesPerElement(spec.dtype);
}

/** How many blocks of `spec`'s shape fit in `bytes` (rounded down). */
export function numBlocksForBudget(bytes: number, spec: Omit<KvCacheSpec, 'numBlocks'>): number {
  return Math.floor(bytes / bytesPerBlock(spec));
}

/** Full blocks found in the prefix cache for a token sequence (not yet referenced). */
export interface ComputedBlocks {
  readonly blocks: readonly number[];
  readonly hashes: readonly BlockHash[];
  /** Tokens covered by `blocks`. */
  readonly numTokens: number;
  /** Full blocks looked up (for the hit rate). */
  readonly numLookups: number;
}

/** The KV numbers the executor reports (see ExecutorStats.kv in runtime/api.ts). */
export type KvCacheStats = ExecutorStats['kv'];

interface SeqBlocks {
  blocks: number[];
  /** Keys of the leading full, computed blocks (registered in the pool's prefix cache). */
  hashes: BlockHash[];
  /** Token slots allocated: tokens already in the cache plus those the current step writes. */
  numTokens: number;
}

const NO_HIT: ComputedBlocks = { blocks: [], hashes: [], numTokens: 0, numLookups: 0 };

export class KVCacheManager {
  readonly pool: BlockPool;
  readonly tokensPerBlock: number;
  private readonly seqs = new Map<number, SeqBlocks>();
  private numLookups = 0;
  private numHits = 0;
  /** While a journal is open: each touched sequence's entry before its first change (null: absent), and the counters. */
  private saved: { readonly seqs: Map<number, SeqBlocks | null>; readonly numLookups: number; readonly numHits: number } | null = null;

  constructor(numBlocks: number, tokensPerBlock = DEFAULT_TOKENS_PER_BLOCK, private readonly enablePrefixCaching = true) {
    assert.ok(Number.isInteger(tokensPerBlock) && tokensPerBlock > 0, 'tokensPerBlock must be a positive integer');
    this.pool = new BlockPool(numBlocks);
    this.tokensPerBlock = tokensPerBlock;
  }

  /** Blocks needed to hold `numTokens` tokens. */
  blocksFor(numTokens: number): number {
    return Math.ceil(numTokens / this.tokensPerBlock);
  }

  /**
   * The longest cached prefix of `tokens`, in full blocks. Never the whole sequence: the last token
   * is always recomputed, because the step that computes it is the one that yields the logits the
   * next token is sampled from (cached KV has no logits).
   */
  getComputedBlocks(tokens: readonly number[]): ComputedBlocks {
    if (!this.enablePrefixCaching || tokens.length === 0) return NO_HIT;
    const bs = this.tokensPerBlock;
    const numLookups = Math.floor((tokens.length - 1) / bs);
    const blocks: number[] = [];
    const hashes: BlockHash[] = [];
    for (let i = 0; i < numLookups; i++) {
      const hash = hashBlock(hashes[i - 1] ?? null, tokens.slice(i * bs, (i + 1) * bs));
      const id = this.pool.lookup(hash);
      if (id === undefined) break;
      blocks.push(id);
      hashes.push(hash);
    }
    return { blocks, hashes, numTokens: blocks.length * bs, numLookups };
  }

  /** Pure: whether `numNewTokens` more slots (after `computed` for a new sequence) can be allocated now. */
  canAllocate(seqId: number, numNewTokens: number, computed: ComputedBlocks = NO_HIT): boolean {
    return this.numBlocksNeeded(seqId, numNewTokens, computed) <= this.pool.numFree;
  }

  /**
   * Allocates slots for `numNewTokens` tokens the next step writes. For a sequence not yet known,
   * first references its `computed` prefix-cache blocks. Returns the block copies (src → dst) the
   * backend must do before the step (copy-on-write of a shared, partially filled last block).
   */
  allocate(seqId: number, numNewTokens: number, computed: ComputedBlocks = NO_HIT): (readonly [number, number])[] {
    assert.ok(this.canAllocate(seqId, numNewTokens, computed), `allocate(${seqId}) without room: call canAllocate first`);
    this.save(seqId);
    let seq = this.seqs.get(seqId);
    if (!seq) {
      for (const id of computed.blocks) this.pool.touch(id);
      seq = { blocks: [...computed.blocks], hashes: [...computed.hashes], numTokens: computed.numTokens };
      this.seqs.set(seqId, seq);
      this.numLookups += computed.numLookups;
      this.numHits += computed.blocks.length;
    }
    const copies: (readonly [number, number])[] = [];
    const last = seq.blocks.length - 1;
    const lastId = seq.blocks[last];
    if (numNewTokens > 0 && lastId !== undefined && this.isPartialShared(seq)) {
      const dst = this.pool.allocate();
      copies.push([lastId, dst]);
      this.pool.release(lastId);
      seq.blocks[last] = dst;
    }
    seq.numTokens += numNewTokens;
    while (seq.blocks.length < this.blocksFor(seq.numTokens)) seq.blocks.push(this.pool.allocate());
    return copies;
  }

  /** Registers the sequence's full blocks among its first `numComputed` tokens in the prefix cache. */
  commit(seqId: number, tokens: readonly number[], numComputed: number): void {
    const seq = this.seqs.get(seqId);
    if (!seq || !this.enablePrefixCaching) return;
    this.save(seqId);
    const bs = this.tokensPerBlock;
    const numFull = Math.floor(Math.min(numComputed, seq.numTokens) / bs);
    for (let i = seq.hashes.length; i < numFull; i++) {
      const hash = hashBlock(seq.hashes[i - 1] ?? null, tokens.slice(i * bs, (i + 1) * bs));
      const id = seq.blocks[i];
      assert.ok(id !== undefined, `commit(${seqId}): block ${i} missing`);
      this.pool.cache(id, hash);
      seq.hashes.push(hash);
    }
  }

  /** Returns every block of the sequence to the pool (last block first, so prefixes stay cached longer). */
  free(seqId: number): void {
    const seq = this.seqs.get(seqId);
    if (!seq) return;
    this.save(seqId);
    for (let i = seq.blocks.length - 1; i >= 0; i--) this.pool.release(seq.blocks[i] ?? -1);
    this.seqs.delete(seqId);
  }

  /** `child` shares all of `parent`'s blocks (ref counts +1); a shared partial block is copied on write. */
  fork(parentId: number, childId: number): void {
    const parent = this.seqs.get(parentId);
    assert.ok(parent, `fork: sequence ${parentId} has no blocks`);
    assert.ok(!this.seqs.has(childId), `fork: sequence ${childId} already exists`);
    this.save(childId);
    for (const id of parent.blocks) this.pool.touch(id);
    this.seqs.set(childId, { blocks: [...parent.blocks], hashes: [...parent.hashes], numTokens: parent.numTokens });
  }

  /**
   * Starts a journal: until `endJournal()` (keep) or `rollback()` (undo), every change to block
   * tables, ref counts, the free queue and the prefix cache can be undone exactly. Used to schedule
   * a step speculatively while the previous one runs (see executor/speculation.ts).
   */
  beginJournal(): void {
    assert.ok(this.saved === null, 'KVCacheManager.beginJournal while a journal is open');
    this.saved = { seqs: new Map(), numLookups: this.numLookups, numHits: this.numHits };
    this.pool.beginJournal();
  }

  endJournal(): void {
    this.saved = null;
    this.pool.endJournal();
  }

  /** Undoes everything since `beginJournal()`: the cache is as if none of it happened. */
  rollback(): void {
    const saved = this.saved;
    assert.ok(saved, 'KVCacheManager.rollback without a journal');
    this.saved = null;
    this.pool.rollback();
    for (const [seqId, entry] of saved.seqs) {
      if (entry) this.seqs.set(seqId, entry);
      else this.seqs.delete(seqId);
    }
    this.numLookups = saved.numLookups;
    this.numHits = saved.numHits;
  }

  hasSeq(seqId: number): boolean {
    return this.seqs.has(seqId);
  }

  blockTable(seqId: number): readonly number[] {
    return this.seqs.get(seqId)?.blocks ?? [];
  }

  numSeqTokens(seqId: number): number {
    return this.seqs.get(seqId)?.numTokens ?? 0;
  }

  stats(): KvCacheStats {
    const fill = new Map<number, number>();
    for (const seq of this.seqs.values()) {
      seq.blocks.forEach((id, i) => {
        const n = Math.min(this.tokensPerBlock, seq.numTokens - i * this.tokensPerBlock);
        fill.set(id, Math.max(fill.get(id) ?? 0, n));
      });
    }
    let filled = 0;
    for (const n of fill.values()) filled += n;
    const slots = fill.size * this.tokensPerBlock;
    return {
      numBlocks: this.pool.numBlocks,
      numUsed: this.pool.numBlocks - this.pool.numFree,
      numFree: this.pool.numFree,
      numCached: this.pool.numCached,
      tokensPerBlock: this.tokensPerBlock,
      prefixHitRate: this.numLookups === 0 ? 0 : this.numHits / this.numLookups,
      fragmentation: slots === 0 ? 0 : (slots - filled) / slots,
    };
  }

  /** Pool integrity plus: ref counts equal the number of sequences holding each block. */
  checkIntegrity(): void {
    this.pool.checkIntegrity();
    const owners = new Map<number, number>();
    for (const seq of this.seqs.values()) {
      if (new Set(seq.blocks).size !== seq.blocks.length) throw new Error('KVCacheManager integrity: a block twice in one table');
      for (const id of seq.blocks) owners.set(id, (owners.get(id) ?? 0) + 1);
    }
    for (let id = 0; id < this.pool.numBlocks; id++) {
      if (this.pool.refCount(id) !== (owners.get(id) ?? 0)) {
        throw new Error(`KVCacheManager integrity: block ${id} has ref ${this.pool.refCount(id)} but ${owners.get(id) ?? 0} owners`);
      }
    }
  }

  /** Journal: keeps a copy of `seqId`'s entry before its first change. */
  private save(seqId: number): void {
    const saved = this.saved;
    if (!saved || saved.seqs.has(seqId)) return;
    const seq = this.seqs.get(seqId);
    saved.seqs.set(seqId, seq ? { blocks: [...seq.blocks], hashes: [...seq.hashes], numTokens: seq.numTokens } : null);
  }

  private isPartialShared(seq: SeqBlocks): boolean {
    const lastId = seq.blocks[seq.blocks.length - 1];
    return seq.numTokens % this.tokensPerBlock !== 0 && lastId !== undefined && this.pool.refCount(lastId) > 1;
  }

  private numBlocksNeeded(seqId: number, numNewTokens: number, computed: ComputedBlocks): number {
    const seq = this.seqs.get(seqId);
    if (!seq) {
      const revived = computed.blocks.filter((id) => this.pool.refCount(id) === 0).length;
      return revived + this.blocksFor(computed.numTokens + numNewTokens) - computed.blocks.length;
    }
    const cow = numNewTokens > 0 && this.isPartialShared(seq) ? 1 : 0;
    return cow + this.blocksFor(seq.numTokens + numNewTokens) - seq.blocks.length;
  }
}
