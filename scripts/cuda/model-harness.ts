/**
 * Shared pieces of the whole-model device checks: a tiny block allocator, StepInputs for
 * prefill/decode steps, argmax, error metrics and the minimal tokenizer the Executor needs.
 */
import type { ExecutionContext, HostTensor, SeqAttention, StepInputs } from '../../src/backends/types.js';
import type { TextTokenizer } from '../../src/tokenizer/types.js';

const i32 = (a: number[]): HostTensor => ({ dtype: 'int32', shape: [a.length], data: Int32Array.from(a) });

export interface SeqState {
  readonly blockTable: Int32Array;
  /** Tokens already in the cache. */
  len: number;
}

/** One step over several sequences: `tokens[i]` are sequence i's new tokens; logits for all new tokens or only the last. */
export function makeStep(seqs: readonly SeqState[], tokens: readonly (readonly number[])[], tokensPerBlock: number, allLogits: boolean): StepInputs {
  const ids: number[] = [];
  const pos: number[] = [];
  const slots: number[] = [];
  const logits: number[] = [];
  const meta: SeqAttention[] = [];
  seqs.forEach((s, i) => {
    const toks = tokens[i]!;
    const queryStart = ids.length;
    toks.forEach((t, j) => {
      const p = s.len + j;
      ids.push(t);
      pos.push(p);
      slots.push(s.blockTable[Math.floor(p / tokensPerBlock)]! * tokensPerBlock + (p % tokensPerBlock));
      if (allLogits || j === toks.length - 1) logits.push(ids.length - 1);
    });
    s.len += toks.length;
    meta.push({ queryStart, numQueryTokens: toks.length, contextLen: s.len, blockTable: s.blockTable });
  });
  return {
    tensors: { input_ids: i32(ids), positions: i32(pos), logits_indices: i32(logits) },
    attention: { seqs: meta, slotMapping: Int32Array.from(slots) },
  };
}

/** Sequence i gets blocks [i·n, (i+1)·n). */
export function seqStates(count: number, blocksPerSeq: number): SeqState[] {
  return Array.from({ length: count }, (_, i) => ({ blockTable: Int32Array.from({ length: blocksPerSeq }, (_, b) => i * blocksPerSeq + b), len: 0 }));
}

export function runLogits(ctx: ExecutionContext, step: StepInputs): Float32Array {
  const out = ctx.run(step)['logits'];
  if (!out || !(out.data instanceof Float32Array)) throw new Error('no float32 logits');
  return out.data;
}

export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** top-1 − top-2 of a logits row (0 when the top value is shared). */
export function margin(row: Float32Array): number {
  const top = argmax(row);
  let second = -Infinity;
  row.forEach((v, i) => { if (i !== top && v > second) second = v; });
  return row[top]! - second;
}

export function rows(data: Float32Array, vocab: number): Float32Array[] {
  return Array.from({ length: data.length / vocab }, (_, r) => data.subarray(r * vocab, (r + 1) * vocab));
}

/** ‖a − b‖₂ / ‖b‖₂ in float64 (NaN when any value is NaN). */
export function relL2(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    const d = a[i]! - b[i]!;
    num += d * d;
    den += b[i]! * b[i]!;
  }
  return Math.sqrt(num / den);
}

export function maxAbs(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return Number.isNaN(m) ? NaN : m;
}

/** A tokenizer over raw ids (prompts are token ids; nothing is decoded to text that matters). */
export function idTokenizer(vocab: number): TextTokenizer {
  const detok = { push: () => '', flush: () => '' };
  return {
    vocabSize: vocab, bosTokenId: null, eosTokenIds: [],
    encode: () => { throw new Error('id tokenizer: pass promptTokenIds'); },
    decode: () => '',
    hasChatTemplate: () => false,
    applyChatTemplate: () => { throw new Error('no chat template'); },
    createDetokenizer: () => detok,
  };
}

/** A seeded xorshift PRNG (prompts reproducible from the printed seed). */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}
