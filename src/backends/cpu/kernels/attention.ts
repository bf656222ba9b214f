/**
 * Causal GQA attention over the paged KV cache. For each sequence, query i of this step
 * sits at absolute position contextLen − numQueryTokens + i and attends to keys
 * 0..position, read through the sequence's block table. Softmax with max subtraction.
 */
import { BackendError } from '../../../errors/index.js';
import type { AttentionMetadata, SeqAttention } from '../../types.js';
import type { CpuKvCache } from '../kv-cache.js';

export interface AttentionParams {
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly layer: number;
  readonly scale: number;
}

/** Writes this step's k, v rows to their slots, then computes out [T, numHeads·headDim]. */
export function pagedAttention(
  cache: CpuKvCache, meta: AttentionMetadata, p: AttentionParams,
  q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array,
): void {
  const numTokens = q.length / (p.numHeads * p.headDim);
  if (meta.slotMapping.length !== numTokens) {
    throw new BackendError(`attention: slotMapping has ${meta.slotMapping.length} entries for ${numTokens} tokens`);
  }
  if (p.numKvHeads !== cache.spec.numKvHeads || p.headDim !== cache.spec.headDim) {
    throw new BackendError(`attention: op has ${p.numKvHeads} kv heads × ${p.headDim} but the KV cache has ${cache.spec.numKvHeads} × ${cache.spec.headDim}`);
  }
  cache.write(p.layer, k, v, meta.slotMapping);
  const scratch = { scores: new Float32Array(maxContext(meta)), acc: new Float64Array(p.headDim) };
  for (const seq of meta.seqs) attendSeq(cache, seq, p, q, out, scratch, numTokens);
}

function maxContext(meta: AttentionMetadata): number {
  let m = 0;
  for (const s of meta.seqs) m = Math.max(m, s.contextLen);
  return m;
}

interface Scratch {
  /** One score per context position. */
  readonly scores: Float32Array;
  /** One output row of a head, accumulated in float64. */
  readonly acc: Float64Array;
}

function attendSeq(
  cache: CpuKvCache, seq: SeqAttention, p: AttentionParams, q: Float32Array, out: Float32Array,
  scratch: Scratch, numTokens: number,
): void {
  const { tokensPerBlock } = cache.spec;
  if (seq.queryStart < 0 || seq.queryStart + seq.numQueryTokens > numTokens || seq.numQueryTokens > seq.contextLen) {
    throw new BackendError(`attention: sequence with queryStart ${seq.queryStart}, ${seq.numQueryTokens} queries, contextLen ${seq.contextLen} does not fit ${numTokens} tokens`);
  }
  if (seq.blockTable.length * tokensPerBlock < seq.contextLen) {
    throw new BackendError(`attention: block table of ${seq.blockTable.length} blocks cannot hold contextLen ${seq.contextLen}`);
  }
  // Physical slot of each context position, resolved once per sequence.
  const slots = new Int32Array(seq.contextLen);
  for (let j = 0; j < seq.contextLen; j++) {
    slots[j] = seq.blockTable[Math.floor(j / tokensPerBlock)]! * tokensPerBlock + (j % tokensPerBlock);
  }
  const first = seq.contextLen - seq.numQueryTokens;
  for (let i = 0; i < seq.numQueryTokens; i++) {
    const t = seq.queryStart + i;
    for (let h = 0; h < p.numHeads; h++) attendHead(cache, p, slots, first + i + 1, q, out, scratch, t, h);
  }
}

function attendHead(
  cache: CpuKvCache, p: AttentionParams, slots: Int32Array, numKeys: number,
  q: Float32Array, out: Float32Array, scratch: Scratch, t: number, h: number,
): void {
  const { scores, acc } = scratch;
  const hd = p.headDim;
  const kvh = Math.floor(h / (p.numHeads / p.numKvHeads));
  const kp = cache.keys[p.layer]!, vp = cache.values[p.layer]!;
  const rowWidth = p.numKvHeads * hd;
  const qo = (t * p.numHeads + h) * hd;
  let max = -Infinity;
  for (let j = 0; j < numKeys; j++) {
    const ko = slots[j]! * rowWidth + kvh * hd;
    let s = 0;
    for (let d = 0; d < hd; d++) s += q[qo + d]! * kp[ko + d]!;
    const sc = s * p.scale;
    scores[j] = sc;
    if (sc > max) max = sc;
  }
  let sum = 0;
  for (let j = 0; j < numKeys; j++) {
    const e = Math.exp(scores[j]! - max);
    scores[j] = e;
    sum += e;
  }
  acc.fill(0);
  for (let j = 0; j < numKeys; j++) {
    const w = scores[j]! / sum;
    const vo = slots[j]! * rowWidth + kvh * hd;
    for (let d = 0; d < hd; d++) acc[d]! += w * vp[vo + d]!;
  }
  for (let d = 0; d < hd; d++) out[qo + d] = acc[d]!;
}
