import { describe, expect, it } from 'vitest';
import { hashBlock } from '../../../src/runtime/kv-cache/block-hash.js';
import { KVCacheManager } from '../../../src/runtime/kv-cache/kv-cache-manager.js';
import { PLACEHOLDER, confirm, discard, isHit, speculate, type HostOp } from '../../../src/runtime/executor/speculation.js';
import { Scheduler } from '../../../src/runtime/scheduler/scheduler.js';
import type { SchedulerOutput } from '../../../src/runtime/scheduler/types.js';

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

function create(numBlocks: number, maxNumTokens = 16): Scheduler {
  return new Scheduler({ maxBatchSize: 4, maxNumTokens, maxInputLen: 64, maxOutputLen: 64 }, new KVCacheManager(numBlocks, 4, true));
}

/** Everything the speculation may touch: queues, sequences, block tables, the pool (refs, free order, keys). */
function state(s: Scheduler, ids: readonly number[]): unknown {
  const pool = s.kv.pool;
  const blocks = range(pool.numBlocks);
  return {
    numWaiting: s.numWaiting, numRunning: s.numRunning, numPreemptions: s.numPreemptions,
    seqs: ids.map((id) => {
      try {
        const q = s.get(id);
        return { tokens: [...q.tokens], numComputed: q.numComputed, status: q.status, numPreemptions: q.numPreemptions, table: [...s.kv.blockTable(id)], n: s.kv.numSeqTokens(id) };
      } catch {
        return 'gone';
      }
    }),
    refs: blocks.map((b) => pool.refCount(b)), free: pool.freeOrder(), keys: blocks.map((b) => pool.hashOf(b)), stats: s.kv.stats(),
  };
}

/** Runs a step for real (no speculation): update, then every sampled sequence appends `token`. */
function step(s: Scheduler, token: number): SchedulerOutput {
  const out = s.schedule();
  s.update(out);
  for (const q of out.seqs) if (q.needsLogits) s.appendToken(q.seqId, token);
  return out;
}

describe('speculate / confirm / discard', () => {
  it('discard leaves scheduler and KV cache exactly as a twin that never speculated, after a speculative preemption and a prefix-hit admission', () => {
    const setup = (): { s: Scheduler; current: SchedulerOutput } => {
      const s = create(6, 32);
      s.add(0, range(10)); // 3 blocks
      s.add(1, range(7, 100)); // 2 blocks
      step(s, 50);
      s.add(2, [...range(8), 7]); // its first 2 blocks are 0's (a prefix hit)
      return { s, current: s.schedule() }; // decodes of 0 and 1, then 2's prompt: all 6 blocks used
    };
    const { s, current } = setup();
    const ids = [0, 1, 2];
    const before = state(s, ids);
    expect(s.kv.stats().prefixHitRate).toBe(2 / 5); // 2 of 0 + 1 of 1 + 2 of 2 lookups; 2's two hit
    const spec = speculate(s, current, () => 'append')!;
    // 1's next token needs a block: the speculative schedule preempts 2 (which holds a placeholder).
    expect(spec.next.preempted).toEqual([2]);
    expect(s.get(2).tokens.at(-1)).toBe(PLACEHOLDER);
    discard(s, spec);
    expect(state(s, ids)).toEqual(before);
    expect(state(s, ids)).toEqual(state(setup().s, ids));
    s.kv.checkIntegrity();
    // A speculation that finishes a sequence (max_tokens) is undone as well.
    const again = speculate(s, current, (id) => (id === 1 ? 'release' : 'append'))!;
    expect(again.next.preempted).toEqual([]);
    discard(s, again);
    expect(state(s, ids)).toEqual(before);
    s.kv.checkIntegrity();
  });

  it('a placeholder never reaches the prefix cache: its block is keyed only after its real token is computed', () => {
    const s = create(16);
    s.add(0, range(6));
    step(s, 40); // prefill 0..5, token 40 at position 6
    const current = s.schedule(); // decode of position 6
    const spec = speculate(s, current, () => 'append')!;
    // The placeholder is position 7, the last slot of block 1: the speculative step writes it.
    expect(spec.late).toEqual([{ seqId: 0, position: 7, op: 0, slot: { tokenIds: [PLACEHOLDER], tokenIndex: 0, inputIndex: 0 } }]);
    expect(spec.next.seqs).toEqual([{ seqId: 0, tokenIds: [PLACEHOLDER], positions: [7], blockTable: s.kv.blockTable(0), needsLogits: true }]);
    const block1 = s.kv.blockTable(0)[1]!;
    expect(s.kv.pool.hashOf(block1)).toBeNull();
    expect(s.kv.pool.numCached).toBe(1);
    const recorded: HostOp[] = [{ op: 'append', seqId: 0, tokenId: 41 }];
    expect(isHit(spec, recorded)).toBe(true);
    expect(isHit(spec, [{ op: 'release', seqId: 0 }])).toBe(false);
    const ready = confirm(s, spec, recorded);
    expect(ready.out.seqs[0]!.tokenIds).toEqual([41]);
    expect([...ready.inputs.tensors['input_ids']!.data]).toEqual([41]);
    expect(s.get(0).tokens).toEqual([...range(6), 40, 41]);
    s.update(ready.out);
    const h0 = hashBlock(null, range(4));
    expect(s.kv.pool.hashOf(block1)).toBe(hashBlock(h0, [4, 5, 40, 41]));
    s.kv.checkIntegrity();
  });

  it('makes no speculation when no step would follow', () => {
    const s = create(16);
    s.add(0, range(3));
    const current = s.schedule();
    const before = state(s, [0]);
    expect(speculate(s, current, () => 'release')).toBeUndefined();
    expect(state(s, [0])).toEqual(before);
    s.kv.checkIntegrity();
  });
});
