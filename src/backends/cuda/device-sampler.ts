/**
 * Token selection on the GPU for `CudaContext.runAndSample`: the per-row settings go up in one
 * small copy, `argmax_rows` (every row greedy) or `sample_rows` runs over the logits slot in place,
 * and only the int32 ids come back (4 bytes a row instead of 4 × vocab).
 */
import type { RowSampling } from '../types.js';
import type { CudaDevice, DeviceBuffer, DevicePtr, Stream } from './device.js';
import type { KernelSet } from './kernel-set.js';
import * as ops from './ops.js';

/** Number of per-row parameter arrays (temperature, topK, topP, minP, uniform), 4 bytes each. */
const NUM_PARAMS = 5;

export class DeviceSampler {
  /** Host staging: NUM_PARAMS arrays of maxRows entries each, uploaded in one copy. */
  private readonly staging: ArrayBuffer;
  private readonly temperature: Float32Array;
  private readonly topK: Int32Array;
  private readonly topP: Float32Array;
  private readonly minP: Float32Array;
  private readonly uniforms: Float32Array;
  private readonly params: DeviceBuffer;
  private readonly ids: DeviceBuffer;

  constructor(device: CudaDevice, private readonly kernels: KernelSet, private readonly maxRows: number, private readonly vocab: number) {
    this.staging = new ArrayBuffer(NUM_PARAMS * 4 * maxRows);
    const at = (i: number): number => i * 4 * maxRows;
    this.temperature = new Float32Array(this.staging, at(0), maxRows);
    this.topK = new Int32Array(this.staging, at(1), maxRows);
    this.topP = new Float32Array(this.staging, at(2), maxRows);
    this.minP = new Float32Array(this.staging, at(3), maxRows);
    this.uniforms = new Float32Array(this.staging, at(4), maxRows);
    this.params = device.alloc(this.staging.byteLength);
    try {
      this.ids = device.alloc(4 * maxRows);
    } catch (e) {
      this.params.dispose();
      throw e;
    }
  }

  /** Enqueues the selection of one token per row of `logits` [rows, vocab] float32 on `stream`. */
  enqueue(logits: DevicePtr, sampling: readonly RowSampling[], stream: Stream): void {
    const rows = sampling.length;
    if (rows === 0) return;
    if (rows > this.maxRows) throw new RangeError(`${rows} rows to sample; this context samples at most ${this.maxRows}`);
    if (sampling.every((s) => s.temperature === 0)) {
      ops.argmaxRows(this.kernels, stream, logits, this.vocab, rows, this.ids);
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
    ops.sampleRows(this.kernels, stream, logits, this.vocab, rows, { temperature: at(0), topK: at(1), topP: at(2), minP: at(3), uniforms: at(4) }, this.ids);
  }

  /** Copies the ids of the last `enqueue` back (waits for the stream). */
  read(rows: number, stream: Stream): Int32Array {
    const out = new Int32Array(rows);
    if (rows > 0) this.ids.download(out, stream);
    return out;
  }

  dispose(): void {
    this.params.dispose();
    this.ids.dispose();
  }
}
