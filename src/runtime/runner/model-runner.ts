/**
 * ModelRunner: turns a SchedulerOutput into the engine's StepInputs (input_ids, positions,
 * logits_indices, attention metadata with slot mapping) and the engine's logits back into a
 * RunnerOutput. It sees only plain batch data: it imports the scheduler's types, never the scheduler.
 */
import assert from 'node:assert/strict';
import type { AttentionMetadata, ExecutionContext, HostTensor, SeqAttention, StepInputs } from '../../backends/types.js';
import type { RunnerOutput, SchedulerOutput } from '../scheduler/types.js';

function int32(data: Int32Array): HostTensor {
  return { dtype: 'int32', shape: [data.length], data };
}

/** Builds the step's inputs. Tokens are laid out sequence after sequence, in `out.seqs` order. */
export function buildStepInputs(out: SchedulerOutput): StepInputs {
  const bs = out.tokensPerBlock;
  const inputIds = new Int32Array(out.numTokens);
  const positions = new Int32Array(out.numTokens);
  const slotMapping = new Int32Array(out.numTokens);
  const logitsIndices: number[] = [];
  const seqs: SeqAttention[] = [];
  let t = 0;
  for (const s of out.seqs) {
    const queryStart = t;
    s.tokenIds.forEach((id, i) => {
      const pos = s.positions[i] as number;
      const block = s.blockTable[Math.floor(pos / bs)];
      assert.ok(block !== undefined, `sequence ${s.seqId}: no block for position ${pos}`);
      inputIds[t] = id;
      positions[t] = pos;
      slotMapping[t] = block * bs + (pos % bs);
      t++;
    });
    const lastPos = s.positions[s.positions.length - 1] as number;
    seqs.push({ queryStart, numQueryTokens: s.tokenIds.length, contextLen: lastPos + 1, blockTable: Int32Array.from(s.blockTable) });
    if (s.needsLogits) logitsIndices.push(t - 1);
  }
  assert.equal(t, out.numTokens, 'SchedulerOutput.numTokens disagrees with its sequences');
  const attention: AttentionMetadata = { seqs, slotMapping };
  return {
    tensors: { input_ids: int32(inputIds), positions: int32(positions), logits_indices: int32(Int32Array.from(logitsIndices)) },
    attention,
    ...(out.blockCopies.length > 0 ? { blockCopies: out.blockCopies } : {}),
  };
}

/** Runs one step on `context`; returns a logits row (a view into the step's output) per sequence that needed one. */
export function runStep(context: ExecutionContext, out: SchedulerOutput): RunnerOutput {
  if (out.seqs.length === 0) return { logits: [] };
  const outputs = context.run(buildStepInputs(out));
  const logits = outputs['logits'];
  assert.ok(logits && logits.data instanceof Float32Array, 'the engine returned no float32 "logits" output');
  const wanted = out.seqs.filter((s) => s.needsLogits);
  const vocab = logits.shape[1] ?? 0;
  assert.equal(logits.shape[0], wanted.length, 'logits rows do not match the sequences that needed logits');
  const data = logits.data;
  return { logits: wanted.map((s, i) => ({ seqId: s.seqId, row: data.subarray(i * vocab, (i + 1) * vocab) })) };
}
