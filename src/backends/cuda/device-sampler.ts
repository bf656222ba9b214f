/**
 * Token selection on the GPU for `CudaContext.runAndSample`: the per-row settings go up in one
 * small copy, `argmax_rows` (every row greedy) or `sample_rows` runs over the logits slot, and only
 * the int32 ids (plus requested logprobs) come back. Penalties and suppressed ids go up as one CSR
 * array of (id, output count, flags) triples; `apply_penalties` rewrites those logits in place
 * (saving the raw values), and where logprobs are asked `restore_penalized` puts the raw values
 * back before `row_logprobs` reads them (logprobs describe the raw logits, as the host sampler's).
 * Results land in page-locked host memory by an async copy: `collect()` reads them once the
 * stream has passed the copy (an event, or `read()`'s synchronize).
 */
import type { RowLogprobs, RowSampling, SampledStep } from '../types.js';
import { arg, type CudaDevice, type DeviceBuffer, type DevicePtr, type Stream } from './device.js';
import type { KernelSet } from './kernel-set.js';
import * as ops from './ops.js';

/** Number of per-row parameter arrays (temperature, topK, topP, minP, uniform), 4 bytes each. */
const NUM_PARAMS = 5;
/** Top logprobs per row the kernel can return (LOGPROBS_MAX in sampling.cu). */
export const MAX_TOP_LOGPROBS = 20;
const PEN_SEEN = 1;
const PEN_SUPPRESS = 2;

/** The CSR of one step: row starts and (id, count, flags) triples. */
export interface PenaltyCsr {
  readonly rowStarts: Int32Array;
  readonly entries: number[];
}

/** Builds the CSR of `sampling`'s penalties and suppressed ids (pure; exported for tests). */
export function buildPenaltyCsr(sampling: readonly RowSampling[]): PenaltyCsr {
  const rowStarts = new Int32Array(sampling.length + 1);
  const entries: number[] = [];
  sampling.forEach((s, r) => {
    const p = s.penalties;
    const at = new Map<number, number>();
    if (p) {
      for (let i = 0; i < p.ids.length; i++) {
        at.set(p.ids[i] as number, entries.length);
        entries.push(p.ids[i] as number, p.outCounts[i] as number, PEN_SEEN);
      }
    }
    for (const t of s.suppress ?? []) {
      const e = at.get(t);
      if (e !== undefined) entries[e + 2] = (entries[e + 2] as number) | PEN_SUPPRESS;
      else {
        at.set(t, entries.length);
        entries.push(t, 0, PEN_SUPPRESS);
      }
    }
    rowStarts[r + 1] = entries.length / 3;
  });
  return { rowStarts, entries };
}

export class DeviceSampler {
  /** Host staging: NUM_PARAMS arrays of maxRows entries each, uploaded in one copy. */
  private readonly staging: ArrayBuffer;
  private readonly temperature: Float32Array;
  private readonly topK: Int32Array;
  private readonly topP: Float32Array;
  private readonly minP: Float32Array;
  private readonly uniforms: Float32Array;
  private readonly owned: { dispose(): void }[] = [];
  private readonly params: DeviceBuffer;
  /** ids [maxRows] | chosen logprob f32 [maxRows] | top ids [20·maxRows] | top logprobs f32 [20·maxRows]. */
  private readonly results: DeviceBuffer;
  private readonly resultsHost: Uint8Array;
  /** f64 (repetition, presence, frequency) [3·maxRows] | rowStarts [maxRows+1] | numTop [maxRows] | entries [3·cap]. */
  private extras: DeviceBuffer | undefined;
  private saved: DeviceBuffer | undefined;
  private capacity = 0;
  private lastLogprobs: (number | undefined)[] = [];

  constructor(private readonly device: CudaDevice, private readonly kernels: KernelSet, private readonly maxRows: number, private readonly vocab: number) {
    this.staging = new ArrayBuffer(NUM_PARAMS * 4 * maxRows);
    const at = (i: number): number => i * 4 * maxRows;
    this.temperature = new Float32Array(this.staging, at(0), maxRows);
    this.topK = new Int32Array(this.staging, at(1), maxRows);
    this.topP = new Float32Array(this.staging, at(2), maxRows);
    this.minP = new Float32Array(this.staging, at(3), maxRows);
    this.uniforms = new Float32Array(this.staging, at(4), maxRows);
    try {
      this.params = this.own(device.alloc(this.staging.byteLength));
      this.results = this.own(device.alloc(this.resultBytes(true)));
      const pinned = this.own(device.allocPinnedHost(this.resultBytes(true)));
      this.resultsHost = pinned.bytes;
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  private own<T extends { dispose(): void }>(x: T): T {
    this.owned.push(x);
    return x;
  }

  private resultBytes(logprobs: boolean): number {
    return 4 * this.maxRows * (logprobs ? 2 + 2 * MAX_TOP_LOGPROBS : 1);
  }

  /**
   * Enqueues the selection of one token per row of `logits` [rows, vocab] float32 on `stream`
   * (penalties rewrite the rows in place), and the async copy of the results to host memory.
   */
  enqueue(logits: DevicePtr, sampling: readonly RowSampling[], stream: Stream): void {
    const rows = sampling.length;
    this.lastLogprobs = sampling.map((s) => (s.logprobs === undefined ? undefined : Math.min(s.logprobs, MAX_TOP_LOGPROBS)));
    if (rows === 0) return;
    if (rows > this.maxRows) throw new RangeError(`${rows} rows to sample; this context samples at most ${this.maxRows}`);
    const anyLogprobs = this.lastLogprobs.some((n) => n !== undefined);
    const csr = buildPenaltyCsr(sampling);
    const numEntries = csr.entries.length / 3;
    if (numEntries > 0 || anyLogprobs) this.uploadExtras(sampling, csr, stream);
    const x = this.extrasLayout();
    const ex = this.extras?.ptr ?? 0;
    if (numEntries > 0) {
      this.kernels.get('apply_penalties').launch({ grid: [rows], block: [256] }, stream,
        [arg.ptr(logits), arg.i32(this.vocab), arg.ptr(ex + x.rowStarts), arg.ptr(ex + x.entries), arg.ptr(ex), arg.ptr(this.saved!)]);
    }
    this.select(logits, sampling, stream);
    if (anyLogprobs) {
      if (numEntries > 0) {
        this.kernels.get('restore_penalized').launch({ grid: [rows], block: [256] }, stream,
          [arg.ptr(logits), arg.i32(this.vocab), arg.ptr(ex + x.rowStarts), arg.ptr(ex + x.entries), arg.ptr(this.saved!)]);
      }
      const r = this.results.ptr;
      const m = 4 * this.maxRows;
      this.kernels.get('row_logprobs').launch({ grid: [rows], block: [1024] }, stream,
        [arg.ptr(logits), arg.i32(this.vocab), arg.ptr(ex + x.numTop), arg.ptr(r), arg.ptr(r + m), arg.ptr(r + 2 * m), arg.ptr(r + (2 + MAX_TOP_LOGPROBS) * m)]);
    }
    this.results.downloadAsync(this.resultsHost.subarray(0, this.resultBytes(anyLogprobs)), stream);
  }

  private select(logits: DevicePtr, sampling: readonly RowSampling[], stream: Stream): void {
    const rows = sampling.length;
    if (sampling.every((s) => s.temperature === 0)) {
      ops.argmaxRows(this.kernels, stream, logits, this.vocab, rows, this.results);
      return;
    }
    for (let r = 0; r < rows; r++) {
      const s = sampling[r] as RowSampling;
      this.temperature[r] = s.temperature;
      this.topK[r] = s.topK;
      this.topP[r] = s.topP;
      this.minP[r] = s.minP;
      // float32 rounding may reach 1.0; the kernel's draw clamps its target below the total mass.
      this.uniforms[r] = s.uniform;
    }
    this.params.upload(new Uint8Array(this.staging), stream);
    const p = this.params.ptr;
    const at = (i: number): DevicePtr => p + i * 4 * this.maxRows;
    ops.sampleRows(this.kernels, stream, logits, this.vocab, rows, { temperature: at(0), topK: at(1), topP: at(2), minP: at(3), uniforms: at(4) }, this.results);
  }

  /** Byte offsets inside the extras buffer. */
  private extrasLayout(): { rowStarts: number; numTop: number; entries: number } {
    const rowStarts = 8 * 3 * this.maxRows;
    const numTop = rowStarts + 4 * (this.maxRows + 1);
    return { rowStarts, numTop, entries: numTop + 4 * this.maxRows };
  }

  private uploadExtras(sampling: readonly RowSampling[], csr: PenaltyCsr, stream: Stream): void {
    const numEntries = csr.entries.length / 3;
    if (!this.extras || numEntries > this.capacity) this.grow(Math.max(numEntries, 2 * this.capacity, 1024));
    const x = this.extrasLayout();
    const rows = sampling.length;
    const bytes = x.entries + 4 * csr.entries.length;
    const host = new ArrayBuffer(bytes);
    const f64 = new Float64Array(host, 0, 3 * rows);
    sampling.forEach((s, r) => {
      f64[3 * r] = s.penalties?.repetition ?? 1;
      f64[3 * r + 1] = s.penalties?.presence ?? 0;
      f64[3 * r + 2] = s.penalties?.frequency ?? 0;
    });
    new Int32Array(host, x.rowStarts, rows + 1).set(csr.rowStarts);
    const numTop = new Int32Array(host, x.numTop, rows);
    this.lastLogprobs.forEach((n, r) => (numTop[r] = n ?? -1));
    new Int32Array(host, x.entries, csr.entries.length).set(csr.entries);
    this.extras!.upload(new Uint8Array(host), stream);
  }

  private grow(capacity: number): void {
    this.extras?.dispose();
    this.saved?.dispose();
    this.extras = undefined;
    this.saved = undefined;
    this.extras = this.device.alloc(this.extrasLayout().entries + 12 * capacity);
    this.saved = this.device.alloc(4 * capacity);
    this.capacity = capacity;
  }

  /** The results of the last `enqueue` (precondition: the stream has passed its copy). */
  collect(rows: number): SampledStep {
    const buf = this.resultsHost.buffer;
    const base = this.resultsHost.byteOffset;
    const m = this.maxRows;
    const tokenIds = new Int32Array(buf, base, rows).slice();
    if (!this.lastLogprobs.some((n) => n !== undefined)) return { tokenIds };
    const chosen = new Float32Array(buf, base + 4 * m, rows);
    const topIds = new Int32Array(buf, base + 8 * m, MAX_TOP_LOGPROBS * m);
    const topLps = new Float32Array(buf, base + 4 * (2 + MAX_TOP_LOGPROBS) * m, MAX_TOP_LOGPROBS * m);
    const logprobs = this.lastLogprobs.map((n, r): RowLogprobs | undefined => {
      if (n === undefined) return undefined;
      const top: { tokenId: number; logprob: number }[] = [];
      for (let k = 0; k < n; k++) {
        const id = topIds[r * MAX_TOP_LOGPROBS + k] as number;
        if (id >= 0) top.push({ tokenId: id, logprob: topLps[r * MAX_TOP_LOGPROBS + k] as number });
      }
      return { logprob: chosen[r] as number, top };
    });
    return { tokenIds, logprobs };
  }

  /** Waits for the stream, then returns the last `enqueue`'s results. */
  read(rows: number, stream: Stream): SampledStep {
    stream.synchronize();
    return this.collect(rows);
  }

  dispose(): void {
    this.extras?.dispose();
    this.saved?.dispose();
    this.extras = undefined;
    this.saved = undefined;
    for (const x of this.owned.reverse()) x.dispose();
    this.owned.length = 0;
  }
}
