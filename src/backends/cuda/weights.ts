/**
 * Engine weights on the GPU, as bf16 (what the kernels and GEMMs read). Uploaded one tensor at a
 * time, so host memory holds at most one converted tensor beside the engine's own store.
 */
import { BackendError } from '../../errors/index.js';
import { f16BitsToF32, f32ToBf16Bits } from '../../graph/dtype.js';
import type { HostTensor } from '../types.js';
import type { WeightStore } from '../../engine/types.js';
import type { CudaDevice, DeviceBuffer, Stream } from './device.js';

/** The tensor's values as bf16 bits (a view when it already is bf16). Throws for non-float weights. */
export function toBf16Bits(name: string, t: HostTensor): Uint16Array {
  const d = t.data;
  switch (t.dtype) {
    case 'bfloat16': return d as Uint16Array;
    case 'float32': return Uint16Array.from(d as Float32Array, (v) => f32ToBf16Bits(v));
    case 'float16': return Uint16Array.from(d as Uint16Array, (v) => f32ToBf16Bits(f16BitsToF32(v)));
    default: throw new BackendError(`weight ${name} is ${t.dtype}; the CUDA backend runs float32/float16/bfloat16 weights as bfloat16 (quantized weights are not supported yet)`);
  }
}

/** Device copies of an engine's weights, by name. Owns them; `dispose()` frees them. */
export class DeviceWeights {
  private readonly bufs = new Map<string, DeviceBuffer>();
  private readonly shapes = new Map<string, readonly number[]>();
  private totalBytes = 0;

  /** Uploads `names` (default: all) from `store`; `onProgress(done, total)` after each tensor. */
  static upload(device: CudaDevice, stream: Stream, store: WeightStore, names = store.names(),
    onProgress?: (done: number, total: number) => void): DeviceWeights {
    const w = new DeviceWeights();
    try {
      names.forEach((name, i) => {
        const t = store.get(name);
        const bits = toBf16Bits(name, t);
        const buf = device.alloc(bits.byteLength);
        w.bufs.set(name, buf);
        w.shapes.set(name, t.shape);
        w.totalBytes += bits.byteLength;
        buf.upload(bits, stream);
        stream.synchronize(); // the next tensor's conversion may reuse host memory
        onProgress?.(i + 1, names.length);
      });
    } catch (e) {
      w.dispose();
      throw e;
    }
    return w;
  }

  get(name: string): DeviceBuffer {
    const b = this.bufs.get(name);
    if (!b) throw new BackendError(`weight ${name} is not on the device`);
    return b;
  }
  /** Adds a weight that is already on the device (e.g. filled by a kernel); the set owns it. */
  adopt(name: string, buf: DeviceBuffer, shape: readonly number[]): void {
    this.bufs.set(name, buf);
    this.shapes.set(name, shape);
    this.totalBytes += buf.bytes;
  }
  /** First dim of a weight (e.g. the vocabulary of an embedding table). */
  rowsOf(name: string): number {
    const s = this.shapes.get(name);
    if (!s) throw new BackendError(`weight ${name} is not on the device`);
    return s[0] ?? 1;
  }
  get bytes(): number {
    return this.totalBytes;
  }
  dispose(): void {
    for (const b of this.bufs.values()) b.dispose();
    this.bufs.clear();
    this.shapes.clear();
    this.totalBytes = 0;
  }
}
