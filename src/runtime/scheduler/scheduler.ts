/**
 * In-flight batching scheduler (vLLM v1 style). Every step forms one batch within `maxBatchSize`
 * sequences and a `maxNumTokens` token budget: decodes first, then running prefills that were
 * chunked, then waiting sequences in FCFS order (a long prompt is split across steps). Sequences
 * join and leave between any two steps. When blocks run out, the newest running sequence is
 * preempted: its blocks are freed and it is requeued by age (ahead of newer arrivals) to recompute
 * prompt + generated tokens later, so the oldest request always makes progress.
 */
import assert from 'node:assert/strict';
import { RequestError } from '../../errors/index.js';
import type { KVCacheManager } from '../kv-cache/kv-cache-manager.js';
import { Sequence, byAge, insertByAge } from './sequence.js';
import type { ScheduledSeq, SchedulerOutput } from './types.js';

export interface SchedulerConfig {
  readonly maxBatchSize: number;
  readonly maxNumTokens: number;
  readonly maxInputLen: number;
  readonly maxOutputLen: number;
  /** Split prompts longer than the step's remaining token budget across steps (default true). */
  readonly chunkedPrefill?: boolean;
}

interface StepState {
  tokensLeft: number;
  readonly scheduled: ScheduledSeq[];
  readonly scheduledIds: Set<number>;
  readonly copies: (readonly [number, number])[];
  readonly preempted: number[];
}

/** What `Scheduler.checkpoint()` saved: queues, every sequence's counters and token count. */
export interface SchedulerCheckpoint {
  readonly waiting: readonly Sequence[];
  readonly running: readonly Sequence[];
  readonly seqs: readonly { readonly seq: Sequence; readonly numTokens: number; readonly numComputed: number; readonly status: Sequence['status']; readonly numPreemptions: number }[];
  readonly numPreemptions: number;
  readonly nextArrival: number;
}

export class Scheduler {
  private readonly waiting: Sequence[] = [];
  private readonly running: Sequence[] = [];
  private readonly seqs = new Map<number, Sequence>();
  private nextArrival = 0;
  numPreemptions = 0;

  constructor(readonly config: SchedulerConfig, readonly kv: KVCacheManager) {}

  get numWaiting(): number {
    return this.waiting.length;
  }

  get numRunning(): number {
    return this.running.length;
  }

  /** Throws RequestError when a request of this size could never be served. */
  checkRequest(numPromptTokens: number, maxNewTokens: number, numSeqs = 1): void {
    const { maxInputLen, maxOutputLen, maxNumTokens } = this.config;
    if (numPromptTokens === 0) throw new RequestError('the prompt is empty: give at least one token', 'prompt');
    if (numPromptTokens > maxInputLen) {
      throw new RequestError(`the prompt has ${numPromptTokens} tokens, more than max_input_len ${maxInputLen}: shorten it or rebuild the engine with a larger --max_input_len`, 'prompt');
    }
    if (numPromptTokens + maxNewTokens > maxInputLen + maxOutputLen) {
      throw new RequestError(`prompt (${numPromptTokens}) + max_new_tokens (${maxNewTokens}) exceeds max_input_len + max_output_len = ${maxInputLen + maxOutputLen}: lower max_new_tokens`, 'max_new_tokens');
    }
    if (this.config.chunkedPrefill === false && numPromptTokens + maxNewTokens > maxNumTokens) {
      throw new RequestError(`with chunked prefill off, prompt + output (${numPromptTokens + maxNewTokens} tokens) must fit max_num_tokens ${maxNumTokens}`, 'prompt');
    }
    const need = this.kv.blocksFor(numPromptTokens + maxNewTokens) * numSeqs;
    if (need > this.kv.pool.numBlocks) {
      throw new RequestError(`the request needs up to ${need} KV blocks (${numSeqs} × ${numPromptTokens + maxNewTokens} tokens, ${this.kv.tokensPerBlock} per block) but the cache has ${this.kv.pool.numBlocks}: raise the KV cache budget or lower max_new_tokens / n / beam width`, 'max_new_tokens');
    }
  }

  /** Queues a new sequence (its tokens are the prompt). */
  add(seqId: number, promptTokens: readonly number[]): Sequence {
    assert.ok(!this.seqs.has(seqId), `sequence ${seqId} already exists`);
    const seq = new Sequence(seqId, promptTokens, promptTokens.length, this.nextArrival++);
    this.seqs.set(seqId, seq);
    this.waiting.push(seq);
    return seq;
  }

  /**
   * A copy of `parentId` (n > 1 samples, beam search). A running parent shares its KV blocks with
   * the child; a preempted (waiting) parent has none, so the child waits to recompute too.
   */
  fork(parentId: number, childId: number): Sequence {
    const parent = this.get(parentId);
    assert.ok(parent.status !== 'finished', `fork of finished sequence ${parentId}`);
    assert.ok(!this.seqs.has(childId), `sequence ${childId} already exists`);
    const child = new Sequence(childId, parent.tokens, parent.numPromptTokens, parent.arrival);
    this.seqs.set(childId, child);
    if (parent.status === 'waiting') {
      insertByAge(this.waiting, child);
      return child;
    }
    child.numComputed = parent.numComputed;
    child.status = 'running';
    this.kv.fork(parentId, childId);
    insertByAge(this.running, child);
    return child;
  }

  get(seqId: number): Sequence {
    const seq = this.seqs.get(seqId);
    assert.ok(seq, `unknown sequence ${seqId}`);
    return seq;
  }

  appendToken(seqId: number, token: number): void {
    this.get(seqId).tokens.push(token);
  }

  /** Removes a sequence (finished, cancelled or dropped beam); its blocks return at once. */
  finish(seqId: number): void {
    const seq = this.seqs.get(seqId);
    if (!seq) return;
    this.kv.free(seqId);
    removeFrom(this.running, seq);
    removeFrom(this.waiting, seq);
    seq.status = 'finished';
    this.seqs.delete(seqId);
  }

  /**
   * Saves the scheduler's state and opens a KV journal, so that what follows (update, appends,
   * finishes, schedule) can be undone exactly by `restore`, or kept by `commitCheckpoint`. Between the two,
   * tokens may only be appended (never edited or removed) and no sequence may be added or forked.
   */
  checkpoint(): SchedulerCheckpoint {
    this.kv.beginJournal();
    return {
      waiting: [...this.waiting],
      running: [...this.running],
      seqs: [...this.seqs.values()].map((seq) => ({ seq, numTokens: seq.tokens.length, numComputed: seq.numComputed, status: seq.status, numPreemptions: seq.numPreemptions })),
      numPreemptions: this.numPreemptions,
      nextArrival: this.nextArrival,
    };
  }

  /** Undoes everything since `cp` was taken (scheduler and KV cache). */
  restore(cp: SchedulerCheckpoint): void {
    this.kv.rollback();
    this.waiting.splice(0, this.waiting.length, ...cp.waiting);
    this.running.splice(0, this.running.length, ...cp.running);
    this.seqs.clear();
    for (const s of cp.seqs) {
      s.seq.tokens.length = s.numTokens;
      s.seq.numComputed = s.numComputed;
      s.seq.status = s.status;
      s.seq.numPreemptions = s.numPreemptions;
      this.seqs.set(s.seq.id, s.seq);
    }
    this.numPreemptions = cp.numPreemptions;
    this.nextArrival = cp.nextArrival;
  }

  /** Keeps everything since the checkpoint (closes the KV journal). */
  commitCheckpoint(): void {
    this.kv.endJournal();
  }

  /** Replaces a token appended since the checkpoint (a placeholder whose real value is now known). */
  setToken(seqId: number, index: number, token: number): void {
    const seq = this.seqs.get(seqId);
    if (!seq || index >= seq.tokens.length) assert.fail(`sequence ${seqId} has no token ${index}`);
    seq.tokens[index] = token;
  }

  /** True when a step would compute something. */
  hasWork(): boolean {
    return this.waiting.length > 0 || this.running.some((s) => s.numToCompute > 0);
  }

  schedule(): SchedulerOutput {
    const st: StepState = { tokensLeft: this.config.maxNumTokens, scheduled: [], scheduledIds: new Set(), copies: [], preempted: [] };
    const decodes = this.running.filter((s) => s.numToCompute === 1);
    const prefills = this.running.filter((s) => s.numToCompute > 1);
    for (const seq of [...decodes, ...prefills]) {
      if (st.scheduled.length >= this.config.maxBatchSize || st.tokensLeft === 0) break;
      if (seq.status !== 'running') continue;
      const n = this.numToSchedule(seq, seq.numComputed, st.tokensLeft);
      if (n === 0 || !this.makeRoom(seq, n, st)) continue;
      this.emit(seq, n, st);
    }
    if (st.preempted.length === 0) this.admitWaiting(st);
    const numTokens = this.config.maxNumTokens - st.tokensLeft;
    return { seqs: st.scheduled, blockCopies: st.copies, preempted: st.preempted, tokensPerBlock: this.kv.tokensPerBlock, numTokens };
  }

  /** Closes the loop after the runner ran `out`: the scheduled tokens are now in the KV cache. */
  update(out: SchedulerOutput): void {
    for (const s of out.seqs) {
      const seq = this.seqs.get(s.seqId);
      if (!seq || seq.status !== 'running') continue;
      seq.numComputed += s.tokenIds.length;
      this.kv.commit(seq.id, seq.tokens, seq.numComputed);
    }
  }

  private admitWaiting(st: StepState): void {
    // Idle sequences (beams waiting for a preempted sibling) hold blocks but not a batch slot.
    let numActive = this.running.filter((s) => s.numToCompute > 0).length;
    while (this.waiting.length > 0 && st.scheduled.length < this.config.maxBatchSize && st.tokensLeft > 0) {
      const seq = this.waiting[0] as Sequence;
      if (numActive >= this.config.maxBatchSize) return;
      const computed = this.kv.getComputedBlocks(seq.tokens);
      const n = this.numToSchedule(seq, computed.numTokens, st.tokensLeft);
      if (n === 0) return;
      if (!this.kv.canAllocate(seq.id, n, computed)) {
        if (this.preemptIdleFor(seq, st)) continue;
        return;
      }
      st.copies.push(...this.kv.allocate(seq.id, n, computed));
      seq.numComputed = computed.numTokens;
      seq.status = 'running';
      this.waiting.shift();
      insertByAge(this.running, seq);
      numActive++;
      this.emit(seq, n, st);
    }
  }

  /**
   * When nothing could be scheduled this step, the running sequences are all idle (beams waiting
   * for a preempted sibling). Preempting the newest one that is newer than the waiting head lets
   * the head in instead of deadlocking; never an older one, so the same sequence cannot churn.
   */
  private preemptIdleFor(head: Sequence, st: StepState): boolean {
    if (st.scheduled.length > 0) return false;
    const victim = this.newestUnscheduled(st);
    if (!victim || byAge(victim, head) < 0) return false;
    this.preempt(victim, st);
    return true;
  }

  /** Frees blocks by preempting the newest running sequences until `seq` fits; false if `seq` itself went. */
  private makeRoom(seq: Sequence, n: number, st: StepState): boolean {
    while (!this.kv.canAllocate(seq.id, n)) {
      const victim = this.newestUnscheduled(st) ?? seq;
      this.preempt(victim, st);
      if (victim === seq) return false;
    }
    st.copies.push(...this.kv.allocate(seq.id, n));
    return true;
  }

  private newestUnscheduled(st: StepState): Sequence | undefined {
    for (let i = this.running.length - 1; i >= 0; i--) {
      const s = this.running[i] as Sequence;
      if (!st.scheduledIds.has(s.id)) return s;
    }
    return undefined;
  }

  private preempt(seq: Sequence, st: StepState): void {
    this.kv.free(seq.id);
    removeFrom(this.running, seq);
    seq.status = 'waiting';
    seq.numComputed = 0;
    seq.numPreemptions++;
    this.numPreemptions++;
    insertByAge(this.waiting, seq);
    st.preempted.push(seq.id);
  }

  private numToSchedule(seq: Sequence, numComputed: number, tokensLeft: number): number {
    const remaining = seq.tokens.length - numComputed;
    if (this.config.chunkedPrefill === false && remaining > tokensLeft) return 0;
    return Math.min(remaining, tokensLeft);
  }

  private emit(seq: Sequence, n: number, st: StepState): void {
    const start = seq.numComputed;
    const positions = Array.from({ length: n }, (_, i) => start + i);
    st.scheduled.push({
      seqId: seq.id,
      tokenIds: seq.tokens.slice(start, start + n),
      positions,
      blockTable: [...this.kv.blockTable(seq.id)],
      needsLogits: start + n === seq.tokens.length,
    });
    st.scheduledIds.add(seq.id);
    st.tokensLeft -= n;
  }
}

function removeFrom(list: Sequence[], seq: Sequence): void {
  const i = list.indexOf(seq);
  if (i >= 0) list.splice(i, 1);
}

