/**
 * Speculative scheduling (vLLM's "async scheduling", host side). While step N runs on the device,
 * the executor schedules step N+1 and builds its inputs assuming each sequence that samples in N
 * gets exactly one token and keeps running, except where N's token certainly ends it (max_tokens):
 * that sequence is finished as the real path will. Everything in N+1's inputs but those tokens'
 * ids is known then; they are placeholders, patched in once N's tokens arrive.
 *
 * Design: checkpoint + journal. `Scheduler.checkpoint()` saves the queues and every sequence's
 * counters and opens a KV journal (BlockPool records each allocate/touch/release/cache), then the
 * ordinary `update(N)` and `schedule()` run on top. When N's tokens arrive the executor delivers
 * them with the scheduler calls recorded instead of applied (`HostOp`s). Hit: the recorded calls
 * equal the predicted ones (same kinds, same sequences, in order; only token values differ), so
 * the real scheduler state equals the speculative one but for those values: they replace the
 * placeholders and the journal is dropped. Miss (any other finish, a fork, or a submit, cancel or
 * error in the window, which discards at once): `restore()` undoes everything exactly (ref counts,
 * free-queue order, prefix-cache keys; no block is hashed while its token is a placeholder, since
 * hashing happens only in `update` for computed tokens), then `update(N)` and the recorded calls
 * are applied as the non-speculative path would have applied them.
 */
import assert from 'node:assert/strict';
import type { StepInputs } from '../../backends/types.js';
import { buildStepInputs, findTokenSlots } from '../runner/model-runner.js';
import type { Scheduler, SchedulerCheckpoint } from '../scheduler/scheduler.js';
import type { ScheduledSeq, SchedulerOutput } from '../scheduler/types.js';

/** A scheduler call a request makes through the executor's SeqHost while tokens are delivered. */
export type HostOp =
  | { readonly op: 'append'; readonly seqId: number; readonly tokenId: number }
  | { readonly op: 'release'; readonly seqId: number }
  | { readonly op: 'fork'; readonly parentId: number; readonly seqId: number };

/** What a sampled row of step N will do to its sequence: nothing (its request is over), append, or finish. */
export type Prediction = 'none' | 'append' | 'release';

/** The token id a speculative step holds where N's token will go (never a real id). */
export const PLACEHOLDER = -1;

export interface Speculation {
  readonly checkpoint: SchedulerCheckpoint;
  /** Step N, whose `update` is part of the speculation. */
  readonly current: SchedulerOutput;
  readonly predicted: readonly HostOp[];
  /** Step N+1 and its inputs, with PLACEHOLDER where N's tokens go. */
  readonly next: SchedulerOutput;
  readonly inputs: StepInputs;
  /** Each placeholder, in `predicted` order of the appends: filled in by `confirm`. */
  readonly late: readonly LateToken[];
}

/** A placeholder: `seqId`'s token at `position`, and where it sits in the next step, if it runs there. */
interface LateToken {
  readonly seqId: number;
  readonly position: number;
  /** Index of its append in `Speculation.predicted`. */
  readonly op: number;
  /** The next step's own copy of that sequence's token ids, and the index in it and in input_ids. */
  readonly slot?: { readonly tokenIds: number[]; readonly tokenIndex: number; readonly inputIndex: number };
}

/** A step ready to enqueue: the confirmed speculation. */
export interface PreparedStep {
  readonly out: SchedulerOutput;
  readonly inputs: StepInputs;
}

/**
 * Schedules the step after `current` (in flight) on a checkpoint of `scheduler`. Returns undefined,
 * with the scheduler untouched, when no step would follow.
 */
export function speculate(scheduler: Scheduler, current: SchedulerOutput, predict: (seqId: number) => Prediction): Speculation | undefined {
  const checkpoint = scheduler.checkpoint();
  try {
    scheduler.update(current);
    const predicted: HostOp[] = [];
    const late: { seqId: number; position: number; op: number }[] = [];
    for (const s of current.seqs) {
      if (!s.needsLogits) continue;
      const p = predict(s.seqId);
      if (p === 'release') {
        predicted.push({ op: 'release', seqId: s.seqId });
        scheduler.finish(s.seqId);
      } else if (p === 'append') {
        late.push({ seqId: s.seqId, position: scheduler.get(s.seqId).tokens.length, op: predicted.length });
        predicted.push({ op: 'append', seqId: s.seqId, tokenId: PLACEHOLDER });
        scheduler.appendToken(s.seqId, PLACEHOLDER);
      }
    }
    const next = scheduler.hasWork() ? scheduler.schedule() : undefined;
    if (!next || next.seqs.length === 0) {
      scheduler.restore(checkpoint);
      return undefined;
    }
    return { checkpoint, current, predicted, ...withSlots(next, late) };
  } catch (err) {
    scheduler.restore(checkpoint);
    throw err;
  }
}

/** True when the recorded calls are the predicted ones (token values aside). */
export function isHit(spec: Speculation, recorded: readonly HostOp[]): boolean {
  if (recorded.length !== spec.predicted.length) return false;
  return recorded.every((r, i) => {
    const p = spec.predicted[i] as HostOp;
    return r.op === p.op && r.seqId === p.seqId;
  });
}

/** Builds the next step's inputs and locates each placeholder in them (all before N's tokens arrive, so `confirm` is O(placeholders)). */
function withSlots(scheduled: SchedulerOutput, late: readonly Omit<LateToken, 'slot'>[]): Pick<Speculation, 'next' | 'inputs' | 'late'> {
  const inputs = buildStepInputs(scheduled);
  const slots = findTokenSlots(scheduled, late);
  const seqs: ScheduledSeq[] = [...scheduled.seqs];
  const withSlot = late.map((l, i): LateToken => {
    const slot = slots[i];
    if (!slot) return l;
    const own = { ...(seqs[slot.seqIndex] as ScheduledSeq), tokenIds: [...(seqs[slot.seqIndex] as ScheduledSeq).tokenIds] };
    seqs[slot.seqIndex] = own;
    return { ...l, slot: { tokenIds: own.tokenIds, tokenIndex: slot.tokenIndex, inputIndex: slot.inputIndex } };
  });
  return { next: { ...scheduled, seqs }, inputs, late: withSlot };
}

/** Hit: writes the real tokens over the placeholders (scheduler and inputs) and keeps the speculative state. */
export function confirm(scheduler: Scheduler, spec: Speculation, recorded: readonly HostOp[]): PreparedStep {
  const ids = spec.inputs.tensors['input_ids']?.data as Int32Array;
  for (const l of spec.late) {
    const r = recorded[l.op];
    if (r?.op !== 'append') assert.fail(`speculation: no token for sequence ${l.seqId}`);
    scheduler.setToken(l.seqId, l.position, r.tokenId);
    if (!l.slot) continue;
    l.slot.tokenIds[l.slot.tokenIndex] = r.tokenId;
    ids[l.slot.inputIndex] = r.tokenId;
  }
  if (ids.includes(PLACEHOLDER)) assert.fail('speculation: a placeholder token was not patched');
  scheduler.commitCheckpoint();
  return { out: spec.next, inputs: spec.inputs };
}

/** Discards the speculation: the scheduler and the KV cache are exactly as at the checkpoint. */
export function discard(scheduler: Scheduler, spec: Speculation): void {
  scheduler.restore(spec.checkpoint);
}

/** Miss: undoes the speculation, then applies step N's update and the recorded calls for real. */
export function rollback(scheduler: Scheduler, spec: Speculation, recorded: readonly HostOp[]): void {
  discard(scheduler, spec);
  scheduler.update(spec.current);
  replay(scheduler, recorded);
}

export function replay(scheduler: Scheduler, ops: readonly HostOp[]): void {
  for (const r of ops) {
    if (r.op === 'append') scheduler.appendToken(r.seqId, r.tokenId);
    else if (r.op === 'release') scheduler.finish(r.seqId);
    else scheduler.fork(r.parentId, r.seqId);
  }
}
