/**
 * Drives an LLM engine's ExecutionContext for one sequence by hand (no scheduler): a one-shot
 * prefill returning the logits of every prompt position, then one-token decode steps. The
 * sequence's blocks are taken from `blockTable` in its (deliberately non-identity) order.
 */
import type { ExecutionContext, HostTensor, StepInputs } from '../../src/backends/types.js';

export const TOKENS_PER_BLOCK = 16;

const int32 = (values: readonly number[]): HostTensor => ({ dtype: 'int32', shape: [values.length], data: Int32Array.from(values) });

export class SingleSequence {
  private numCached = 0;

  constructor(
    private readonly ctx: ExecutionContext,
    private readonly blockTable: Int32Array,
    private readonly vocabSize: number,
  ) {}

  private slot(position: number): number {
    const block = this.blockTable[Math.floor(position / TOKENS_PER_BLOCK)];
    if (block === undefined) throw new Error(`position ${position} is past the sequence's ${this.blockTable.length} blocks`);
    return block * TOKENS_PER_BLOCK + (position % TOKENS_PER_BLOCK);
  }

  /** Runs `ids` at the next positions; returns logits rows for the tokens at `logitsAt` (offsets into ids). */
  private step(ids: readonly number[], logitsAt: readonly number[]): Float32Array {
    const positions = ids.map((_, i) => this.numCached + i);
    const step: StepInputs = {
      tensors: { input_ids: int32(ids), positions: int32(positions), logits_indices: int32(logitsAt) },
      attention: {
        seqs: [{ queryStart: 0, numQueryTokens: ids.length, contextLen: this.numCached + ids.length, blockTable: this.blockTable }],
        slotMapping: Int32Array.from(positions.map((p) => this.slot(p))),
      },
    };
    const out = this.ctx.run(step)['logits'];
    if (!out) throw new Error('the engine returned no logits output');
    if (out.shape[0] !== logitsAt.length || out.shape[1] !== this.vocabSize) {
      throw new Error(`logits shape [${out.shape.join(', ')}], expected [${logitsAt.length}, ${this.vocabSize}]`);
    }
    this.numCached += ids.length;
    return out.data as Float32Array;
  }

  /** One-shot prefill of the whole prompt; logits of every position, row-major [L, V]. */
  prefill(ids: readonly number[]): Float32Array {
    if (this.numCached !== 0) throw new Error('prefill on a sequence that already has tokens');
    return this.step(ids, ids.map((_, i) => i));
  }

  /** One decode step feeding `token`; its logits [V]. */
  decode(token: number): Float32Array {
    return this.step([token], [0]);
  }
}

export function argmax(row: Float32Array | Float64Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}
