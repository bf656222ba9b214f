/**
 * ModelRunner: turns a SchedulerOutput into the engine's StepInputs (input_ids, positions,
 * logits_indices, attention metadata with slot mapping) and the engine's logits back into a
 * RunnerOutput, or, where the context samples on its device, the sampled token ids into a
 * SampledRunnerOutput. It sees only plain batch data: it imports the scheduler's types, never the scheduler.
 */
import assert from 'node:assert/strict';
import type { AttentionMetadata, ExecutionContext, HostTensor, RowSampling, SampledStep, SeqAttention, StepInputs } from '../../backends/types.js';
import type { TokenLogprob } from '../api.js';
import type { RunnerOutput, ScheduledSeq, SchedulerOutput } from '../scheduler/types.js';

/** One token per sequence that needed logits, chosen by the context (`runAndSample`). */
export interface SampledRunnerOutput {
  readonly tokens: readonly { readonly seqId: number; readonly tokenId: number; readonly logprob?: TokenLogprob }[];
}

/** A step running on the device (`enqueueStepSampled`); `done()` gives its tokens. */
export interface PendingRunnerOutput {
  done(): Promise<SampledRunnerOutput>;
}

function int32(data: Int32Array): HostTensor {
  return { dtype: 'int32', shape: [data.length], data };
}

/** Builds the step's inputs. Tokens are laid out sequence after sequence, in `out.seqs` order. */
export function buildStepInputs(out: SchedulerOutput): StepInputs {
  const bs = out.tokensPerBlock;
  const inputIds = new Int32Array(out.numTokens);
  const positions = new Int32Array(out.numTokens);
  const slotMapping = new Int32Array(out.numTokens);
  const logitsIndices = new Int32Array(out.seqs.length);
  let numLogits = 0;
  const seqs: SeqAttention[] = new Array<SeqAttention>(out.seqs.length);
  let t = 0;
  for (let j = 0; j < out.seqs.length; j++) {
    const s = out.seqs[j] as ScheduledSeq;
    const queryStart = t;
    const n = s.tokenIds.length;
    for (let i = 0; i < n; i++) {
      const pos = s.positions[i] as number;
      const block = s.blockTable[Math.floor(pos / bs)];
      assert.ok(block !== undefined, `sequence ${s.seqId}: no block for position ${pos}`);
      inputIds[t] = s.tokenIds[i] as number;
      positions[t] = pos;
      slotMapping[t] = block * bs + (pos % bs);
      t++;
    }
    const lastPos = s.positions[n - 1] as number;
    seqs[j] = { queryStart, numQueryTokens: n, contextLen: lastPos + 1, blockTable: Int32Array.from(s.blockTable) };
    if (s.needsLogits) logitsIndices[numLogits++] = t - 1;
  }
  assert.equal(t, out.numTokens, 'SchedulerOutput.numTokens disagrees with its sequences');
  const attention: AttentionMetadata = { seqs, slotMapping };
  return {
    tensors: { input_ids: int32(inputIds), positions: int32(positions), logits_indices: int32(logitsIndices.subarray(0, numLogits)) },
    attention,
    ...(out.blockCopies.length > 0 ? { blockCopies: out.blockCopies } : {}),
  };
}

/** Where a token of `seqId` at `position` sits in a step built by `buildStepInputs`. */
export interface TokenSlot {
  /** Index into `out.seqs`. */
  readonly seqIndex: number;
  /** Index into that sequence's `tokenIds`. */
  readonly tokenIndex: number;
  /** Index into input_ids. */
  readonly inputIndex: number;
}

/**
 * The slot of each (seqId, position) in the step `out` (undefined where the step does not compute
 * it), so a token known only later can be written into the built inputs in O(1).
 */
export function findTokenSlots(out: SchedulerOutput, tokens: readonly { readonly seqId: number; readonly position: number }[]): (TokenSlot | undefined)[] {
  const starts = new Map<number, { seqIndex: number; inputIndex: number }>();
  let t = 0;
  out.seqs.forEach((s, seqIndex) => {
    starts.set(s.seqId, { seqIndex, inputIndex: t });
    t += s.tokenIds.length;
  });
  return tokens.map(({ seqId, position }) => {
    const start = starts.get(seqId);
    if (!start) return undefined;
    const s = out.seqs[start.seqIndex] as ScheduledSeq;
    const tokenIndex = position - (s.positions[0] as number);
    if (tokenIndex < 0 || tokenIndex >= s.tokenIds.length) return undefined;
    return { seqIndex: start.seqIndex, tokenIndex, inputIndex: start.inputIndex + tokenIndex };
  });
}

/** Runs one step on `context`; returns a logits row (a view into the step's output) per sequence that needed one. */
export function runStep(context: ExecutionContext, out: SchedulerOutput, inputs?: StepInputs): RunnerOutput {
  if (out.seqs.length === 0) return { logits: [] };
  const outputs = context.run(inputs ?? buildStepInputs(out));
  const logits = outputs['logits'];
  assert.ok(logits && logits.data instanceof Float32Array, 'the engine returned no float32 "logits" output');
  const wanted = out.seqs.filter((s) => s.needsLogits);
  const vocab = logits.shape[1] ?? 0;
  assert.equal(logits.shape[0], wanted.length, 'logits rows do not match the sequences that needed logits');
  const data = logits.data;
  return { logits: wanted.map((s, i) => ({ seqId: s.seqId, row: data.subarray(i * vocab, (i + 1) * vocab) })) };
}

/**
 * Runs one step with sampling in the context (precondition: `context.sampleOnDevice`).
 * `sampling` holds one entry per sequence that needs logits, in `out.seqs` order.
 */
export function runStepSampled(context: ExecutionContext, out: SchedulerOutput, sampling: readonly RowSampling[], inputs?: StepInputs): SampledRunnerOutput {
  assert.ok(context.sampleOnDevice && context.runAndSample, 'runStepSampled needs a context with sampleOnDevice');
  if (out.seqs.length === 0) return { tokens: [] };
  const wanted = out.seqs.filter((s) => s.needsLogits);
  assert.equal(sampling.length, wanted.length, 'one RowSampling per sequence that needs logits');
  return toRunnerOutput(wanted, context.runAndSample(inputs ?? buildStepInputs(out), sampling));
}

/**
 * `runStepSampled` without blocking (precondition: `context.enqueueAndSample`): the step is on the
 * device when this returns; await `done()` for the tokens. `inputs`: `buildStepInputs(out)` made earlier.
 */
export function enqueueStepSampled(context: ExecutionContext, out: SchedulerOutput, sampling: readonly RowSampling[], inputs?: StepInputs): PendingRunnerOutput {
  assert.ok(context.enqueueAndSample, 'enqueueStepSampled needs a context with enqueueAndSample');
  const wanted = out.seqs.filter((s) => s.needsLogits);
  assert.equal(sampling.length, wanted.length, 'one RowSampling per sequence that needs logits');
  if (out.seqs.length === 0) return { done: () => Promise.resolve({ tokens: [] }) };
  const pending = context.enqueueAndSample(inputs ?? buildStepInputs(out), sampling);
  return { done: async () => toRunnerOutput(wanted, await pending.done()) };
}

function toRunnerOutput(wanted: readonly ScheduledSeq[], step: SampledStep): SampledRunnerOutput {
  const { tokenIds, logprobs } = step;
  assert.equal(tokenIds.length, wanted.length, 'the context returned a token id count that does not match the logits rows');
  return {
    tokens: wanted.map((s, i) => {
      const tokenId = tokenIds[i] as number;
      const lp = logprobs?.[i];
      return lp ? { seqId: s.seqId, tokenId, logprob: { tokenId, logprob: lp.logprob, top: lp.top } } : { seqId: s.seqId, tokenId };
    }),
  };
}
