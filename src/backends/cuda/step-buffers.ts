/**
 * The step's inputs in persistent device buffers: token ids, positions, slot mapping, logits
 * indices and the attention metadata (context lengths, query starts/lengths, query rows, block
 * tables) live at fixed device addresses, so a captured CUDA graph replays over new values. One
 * host staging array mirrors the device buffer; each step fills it and uploads the used parts.
 */
import { BackendError } from '../../errors/index.js';
import type { StepInputs } from '../types.js';
import type { CudaDevice, DeviceBuffer, Stream } from './device.js';

export interface StepLimits {
  readonly maxTokens: number;
  readonly maxLogits: number;
  readonly maxSeqs: number;
  readonly maxBlocksPerSeq: number;
}

/** What one step looks like after padding (rows the launches cover). */
export interface StepDims {
  readonly numTokens: number;
  readonly numLogits: number;
  readonly numSeqs: number;
  readonly maxQueryLen: number;
  readonly maxContext: number;
  /** Every sequence has one query token: the decode attention kernel serves the step. */
  readonly decodeOnly: boolean;
  /** Real (unpadded) logits rows to copy back. */
  readonly realLogits: number;
}

type Region = 'ids' | 'positions' | 'slots' | 'logits' | 'ctxLens' | 'qStarts' | 'qLens' | 'qRows' | 'tables';

export class StepBuffers {
  private readonly host: Int32Array;
  private readonly offsets: Record<Region, number>;
  readonly device: DeviceBuffer;

  constructor(dev: CudaDevice, readonly limits: StepLimits) {
    const { maxTokens: t, maxLogits: l, maxSeqs: s, maxBlocksPerSeq: b } = limits;
    const sizes: [Region, number][] = [['ids', t], ['positions', t], ['slots', t], ['logits', l], ['ctxLens', s], ['qStarts', s],
      ['qLens', s], ['qRows', s], ['tables', s * b]];
    let at = 0;
    const offsets = {} as Record<Region, number>;
    for (const [name, n] of sizes) {
      offsets[name] = at;
      at += Math.ceil(n / 64) * 64; // 256-byte aligned regions
    }
    this.offsets = offsets;
    this.host = new Int32Array(at);
    this.device = dev.alloc(at * 4);
  }

  /** Device address of a region. */
  ptr(region: Region): number {
    return this.device.ptr + 4 * this.offsets[region];
  }

  /**
   * Fills the staging array from `step` (padding decode steps to `padSeqs` sequences when given)
   * and uploads it on `stream`. Throws `BackendError` when the step exceeds the limits.
   */
  load(step: StepInputs, stream: Stream, padSeqs?: number): StepDims {
    const ids = intTensor(step, 'input_ids');
    const positions = intTensor(step, 'positions');
    const logits = intTensor(step, 'logits_indices');
    const att = step.attention;
    if (!att) throw new BackendError('the CUDA context needs StepInputs.attention (the engine has attention ops)');
    const seqs = att.seqs;
    const numTokens = padSeqs ?? ids.length;
    const numSeqs = padSeqs ?? seqs.length;
    const numLogits = padSeqs ?? logits.length;
    const { maxTokens, maxLogits, maxSeqs, maxBlocksPerSeq } = this.limits;
    if (numTokens > maxTokens) throw new BackendError(`a step of ${numTokens} tokens exceeds the engine's max_num_tokens ${maxTokens}`);
    if (numLogits > maxLogits) throw new BackendError(`a step asks for ${numLogits} logits rows; the CUDA context holds at most ${maxLogits}`);
    if (numSeqs > maxSeqs) throw new BackendError(`a step of ${numSeqs} sequences exceeds the engine's max_batch_size ${maxSeqs}`);
    this.put('ids', ids, numTokens, 0);
    this.put('positions', positions, numTokens, 0);
    this.put('slots', att.slotMapping, numTokens, -1);
    this.put('logits', logits, numLogits, 0);
    const o = this.offsets;
    let maxQueryLen = 0;
    let maxContext = 0;
    this.host.fill(0, o.tables, o.tables + numSeqs * maxBlocksPerSeq);
    for (let s = 0; s < numSeqs; s++) {
      const seq = seqs[s];
      const len = seq?.contextLen ?? 0;
      this.host[o.ctxLens + s] = len;
      this.host[o.qStarts + s] = seq?.queryStart ?? s;
      this.host[o.qLens + s] = seq?.numQueryTokens ?? 0;
      this.host[o.qRows + s] = seq ? seq.queryStart + seq.numQueryTokens - 1 : s;
      if (seq) {
        if (seq.blockTable.length > maxBlocksPerSeq) throw new BackendError(`a sequence holds ${seq.blockTable.length} KV blocks; the engine allows ${maxBlocksPerSeq} (max_input_len + max_output_len)`);
        this.host.set(seq.blockTable, o.tables + s * maxBlocksPerSeq);
        maxQueryLen = Math.max(maxQueryLen, seq.numQueryTokens);
        maxContext = Math.max(maxContext, len);
      }
    }
    for (const r of ['ids', 'positions', 'slots'] as const) this.upload(r, numTokens, stream);
    this.upload('logits', numLogits, stream);
    for (const r of ['ctxLens', 'qStarts', 'qLens', 'qRows'] as const) this.upload(r, numSeqs, stream);
    this.upload('tables', numSeqs * maxBlocksPerSeq, stream);
    const decodeOnly = seqs.every((s) => s.numQueryTokens === 1);
    return { numTokens, numLogits, numSeqs, maxQueryLen, maxContext, decodeOnly, realLogits: logits.length };
  }

  private put(region: Region, src: Int32Array, n: number, pad: number): void {
    const at = this.offsets[region];
    this.host.set(src.subarray(0, Math.min(n, src.length)), at);
    if (n > src.length) this.host.fill(pad, at + src.length, at + n);
  }

  private upload(region: Region, n: number, stream: Stream): void {
    if (n === 0) return;
    const at = this.offsets[region];
    this.device.upload(this.host.subarray(at, at + n), stream, 4 * at);
  }

  dispose(): void {
    this.device.dispose();
  }
}

function intTensor(step: StepInputs, name: string): Int32Array {
  const t = step.tensors[name];
  if (!t) throw new BackendError(`missing graph input '${name}' (int32)`);
  return t.data instanceof Int32Array ? t.data : Int32Array.from(t.data);
}
