import { describe, expect, it } from 'vitest';
import { RequestError } from '../../../src/errors/index.js';
import { KVCacheManager } from '../../../src/runtime/kv-cache/kv-cache-manager.js';
import { Scheduler, type SchedulerConfig } from '../../../src/runtime/scheduler/scheduler.js';
import type { SchedulerOutput } from '../../../src/runtime/scheduler/types.js';

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

function create(cfg: Partial<SchedulerConfig>, numBlocks = 16, tokensPerBlock = 4): Scheduler {
  const config = { maxBatchSize: 4, maxNumTokens: 8, maxInputLen: 64, maxOutputLen: 64, ...cfg };
  return new Scheduler(config, new KVCacheManager(numBlocks, tokensPerBlock, false));
}

/** Schedules, "runs" and updates; every sequence that got logits appends token 99. */
function step(s: Scheduler): SchedulerOutput {
  const out = s.schedule();
  s.update(out);
  for (const q of out.seqs) if (q.needsLogits) s.appendToken(q.seqId, 99);
  s.kv.checkIntegrity();
  return out;
}

const summary = (out: SchedulerOutput) => out.seqs.map((q) => [q.seqId, q.positions[0], q.tokenIds.length, q.needsLogits]);

describe('Scheduler', () => {
  it('chunks a long prompt within the token budget, decodes first, then prefills in FCFS order', () => {
    const s = create({ maxNumTokens: 8 });
    s.add(0, range(3));
    expect(summary(step(s))).toEqual([[0, 0, 3, true]]);
    s.add(1, range(13));
    s.add(2, range(2));
    // Decode of 0 first (1 token), then 7 tokens of 1's prompt; 2 waits for budget.
    expect(summary(step(s))).toEqual([[0, 3, 1, true], [1, 0, 7, false]]);
    expect(summary(step(s))).toEqual([[0, 4, 1, true], [1, 7, 6, true], [2, 0, 1, false]]);
    expect(summary(step(s))).toEqual([[0, 5, 1, true], [1, 13, 1, true], [2, 1, 1, true]]);
    const out = step(s);
    expect(out.seqs[0]).toMatchObject({ seqId: 0, tokenIds: [99], positions: [6], blockTable: [0, 3] });
  });

  it('waits for the whole prompt to fit the budget when chunked prefill is off', () => {
    const s = create({ maxNumTokens: 8, chunkedPrefill: false });
    s.add(0, range(2));
    s.add(1, range(7));
    expect(summary(step(s))).toEqual([[0, 0, 2, true]]);
    expect(summary(step(s))).toEqual([[0, 2, 1, true], [1, 0, 7, true]]);
    expect(() => s.checkRequest(9, 0)).toThrow(/must fit max_num_tokens 8/);
  });

  it('caps the batch at maxBatchSize sequences', () => {
    const s = create({ maxBatchSize: 2, maxNumTokens: 64 });
    for (let i = 0; i < 3; i++) s.add(i, range(2));
    expect(step(s).seqs.map((q) => q.seqId)).toEqual([0, 1]);
    expect(step(s).seqs.map((q) => q.seqId)).toEqual([0, 1]);
    s.finish(0);
    expect(step(s).seqs.map((q) => q.seqId)).toEqual([1, 2]);
  });

  it('preempts the newest running sequence when blocks run out and recomputes it first when room returns', () => {
    // 3 blocks of 2 tokens. Two sequences of 2 prompt tokens each take a block apiece.
    const s = create({ maxNumTokens: 16 }, 3, 2);
    s.add(0, [1, 2]);
    s.add(1, [3, 4]);
    s.add(2, [5]); // newer: must not overtake 1 after 1 is preempted
    expect(summary(step(s))).toEqual([[0, 0, 2, true], [1, 0, 2, true], [2, 0, 1, true]]);
    // Decodes need a block each: 0 preempts the newest (2) to get one; 1 finds none left and,
    // being the newest unscheduled sequence now, preempts itself.
    let out = step(s);
    expect(out.preempted).toEqual([2, 1]);
    expect(summary(out)).toEqual([[0, 2, 1, true]]);
    expect(s.numPreemptions).toBe(2);
    // 1 heads the queue (older than 2) and needs 2 blocks; 1 is free. FCFS: 2 may not overtake it.
    out = step(s);
    expect(summary(out)).toEqual([[0, 3, 1, true]]);
    expect(s.numWaiting).toBe(2);
    s.finish(0);
    // Both recompute prompt + generated tokens, the older first.
    out = step(s);
    expect(summary(out)).toEqual([[1, 0, 3, true], [2, 0, 2, true]]);
    expect(out.seqs[0]!.tokenIds).toEqual([3, 4, 99]);
    expect(out.seqs[1]!.tokenIds).toEqual([5, 99]);
  });

  it('forks: a running parent shares its blocks (copy-on-write), a preempted parent yields a waiting child', () => {
    const s = create({ maxNumTokens: 16 }, 8, 2);
    s.add(0, [1, 2, 3]);
    step(s); // computes 3 tokens, appends 99
    s.fork(0, 1);
    expect(s.kv.blockTable(1)).toEqual([0, 1]);
    expect(s.kv.pool.refCount(1)).toBe(2);
    const out = step(s);
    // Both decode position 3 into shared block 1 (1 of 2 slots used): 0 gets a copy first.
    expect(out.blockCopies).toEqual([[1, 2]]);
    expect(out.seqs.map((q) => [q.seqId, q.blockTable])).toEqual([[0, [0, 2]], [1, [0, 1]]]);
    s.finish(0);
    s.finish(1);
    expect(s.kv.stats().numUsed).toBe(0);
    const t = create({ maxNumTokens: 16 }, 2, 2);
    t.add(0, [1, 2]);
    t.add(1, [3, 4]);
    step(t);
    expect(step(t).preempted).toEqual([1]);
    t.fork(1, 2);
    expect(t.get(2).status).toBe('waiting');
    expect(t.kv.hasSeq(2)).toBe(false);
    t.finish(0);
    // Two blocks: the older copy recomputes first; the child (same tokens) waits for room.
    expect(step(t).seqs.map((q) => [q.seqId, q.tokenIds])).toEqual([[1, [3, 4, 99]]]);
    t.finish(1);
    expect(step(t).seqs.map((q) => [q.seqId, q.tokenIds])).toEqual([[2, [3, 4, 99]]]);
  });

  it('rejects requests that can never fit with RequestError naming the limit', () => {
    const s = create({ maxInputLen: 8, maxOutputLen: 8 }, 3, 2);
    expect(() => s.checkRequest(0, 1)).toThrow(RequestError);
    expect(() => s.checkRequest(9, 1)).toThrow(/more than max_input_len 8/);
    expect(() => s.checkRequest(8, 9)).toThrow(/exceeds max_input_len \+ max_output_len = 16/);
    expect(() => s.checkRequest(4, 3)).toThrow(/needs up to 4 KV blocks .* the cache has 3/);
    expect(() => s.checkRequest(2, 1, 2)).toThrow(/needs up to 4 KV blocks \(2 × 3 tokens/);
    expect(() => s.checkRequest(4, 2)).not.toThrow();
  });
});
