/**
 * Engine weights on the GPU. Float weights become the activation dtype (bf16 by default, fp16 for
 * fp16 engines), which is what the kernels and GEMMs read; quantized tensors stay as stored: fp8
 * e4m3 / int8 / uint8 bytes as they are, and their float32 parameters (`*.weight_scale`,
 * `*.input_scale`, `*.pre_scale`, quant/types.ts `Q`) as float32. Uploaded one tensor at a time, so
 * host memory holds at most one converted tensor beside the engine's own store.
 */
import { BackendError } from '../../errors/index.js';
import { f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, bf16BitsToF32 } from '../../graph/dtype.js';
import type { DType } from '../../graph/types.js';
import type { HostTensor } from '../types.js';
import type { WeightStore } from '../../engine/types.js';
import type { CudaDevice, DeviceBuffer, HostArray, Stream } from './device.js';

export type FloatWeightDtype = 'bfloat16' | 'float16';

/** Suffixes of the float32 parameters of quantized weights (quant/types.ts `Q`), kept float32 on the device. */
const F32_PARAM = /\.(weight_scale|input_scale|pre_scale)$/;

/** The dtype `name` has on the device: quantized bytes as stored, quant parameters float32, other floats `floatDtype`. */
export function deviceDtypeOf(name: string, stored: DType, floatDtype: FloatWeightDtype = 'bfloat16'): DType {
  if (stored === 'fp8e4m3' || stored === 'int8' || stored === 'uint8' || stored === 'int32') return stored;
  if (F32_PARAM.test(name)) return 'float32';
  return floatDtype;
}

/** The tensor's values as bf16 bits (a view when it already is bf16). Throws for non-float weights. */
export function toBf16Bits(name: string, t: HostTensor): Uint16Array {
  const d = t.data;
  switch (t.dtype) {
    case 'bfloat16': return d as Uint16Array;
    case 'float32': return Uint16Array.from(d as Float32Array, (v) => f32ToBf16Bits(v));
    case 'float16': return Uint16Array.from(d as Uint16Array, (v) => f32ToBf16Bits(f16BitsToF32(v)));
    default: throw new BackendError(`weight ${name} is ${t.dtype}, not a float tensor; rebuild the engine`);
  }
}

function toF16Bits(name: string, t: HostTensor): Uint16Array {
  const d = t.data;
  switch (t.dtype) {
    case 'float16': return d as Uint16Array;
    case 'float32': return Uint16Array.from(d as Float32Array, (v) => f32ToF16Bits(v));
    case 'bfloat16': return Uint16Array.from(d as Uint16Array, (v) => f32ToF16Bits(bf16BitsToF32(v)));
    default: throw new BackendError(`weight ${name} is ${t.dtype}, not a float tensor; rebuild the engine`);
  }
}

function toF32(name: string, t: HostTensor): Float32Array {
  switch (t.dtype) {
    case 'float32': return t.data as Float32Array;
    case 'bfloat16': return Float32Array.from(t.data as Uint16Array, (v) => bf16BitsToF32(v));
    case 'float16': return Float32Array.from(t.data as Uint16Array, (v) => f16BitsToF32(v));
    default: throw new BackendError(`quantization parameter ${name} is ${t.dtype}; it must be a float tensor (rebuild the engine)`);
  }
}

/** The bytes to upload for `t` as `dtype` (a view of the store's data when nothing changes). */
export function deviceBytes(name: string, t: HostTensor, dtype: DType): HostArray {
  switch (dtype) {
    case 'bfloat16': return toBf16Bits(name, t);
    case 'float16': return toF16Bits(name, t);
    case 'float32': return toF32(name, t);
    default: {
      const d = t.data;
      if (d instanceof Uint8Array || d instanceof Int8Array || d instanceof Int32Array) return d;
      throw new BackendError(`weight ${name} (${t.dtype}) is not stored as raw bytes; rebuild the engine`);
    }
  }
}

export interface UploadOptions {
  /** What float weights become (default bf16). */
  readonly floatDtype?: FloatWeightDtype;
}

/** Device copies of an engine's weights, by name. Owns them; `dispose()` frees them. */
export class DeviceWeights {
  private readonly bufs = new Map<string, DeviceBuffer>();
  private readonly shapes = new Map<string, readonly number[]>();
  private readonly dtypes = new Map<string, DType>();
  private totalBytes = 0;

  /** Uploads `names` (default: all) from `store`; `onProgress(done, total)` after each tensor. */
  static upload(device: CudaDevice, stream: Stream, store: WeightStore, names = store.names(),
    onProgress?: (done: number, total: number) => void, opts: UploadOptions = {}): DeviceWeights {
    const w = new DeviceWeights();
    try {
      names.forEach((name, i) => {
        const t = store.get(name);
        const dtype = deviceDtypeOf(name, t.dtype, opts.floatDtype);
        const bytes = deviceBytes(name, t, dtype);
        const buf = device.alloc(Math.max(1, bytes.byteLength));
        w.adopt(name, buf, t.shape, dtype);
        buf.upload(bytes, stream);
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
  has(name: string): boolean {
    return this.bufs.has(name);
  }
  /** Adds a weight that is already on the device (e.g. filled by a kernel); the set owns it. */
  adopt(name: string, buf: DeviceBuffer, shape: readonly number[], dtype: DType = 'bfloat16'): void {
    this.bufs.set(name, buf);
    this.shapes.set(name, shape);
    this.dtypes.set(name, dtype);
    this.totalBytes += buf.bytes;
  }
  /** First dim of a weight (e.g. the vocabulary of an embedding table). */
  rowsOf(name: string): number {
    return this.shapeOf(name)[0] ?? 1;
  }
  shapeOf(name: string): readonly number[] {
    const s = this.shapes.get(name);
    if (!s) throw new BackendError(`weight ${name} is not on the device`);
    return s;
  }
  /** The element type of a device weight (see `deviceDtypeOf`). */
  dtypeOf(name: string): DType {
    const d = this.dtypes.get(name);
    if (!d) throw new BackendError(`weight ${name} is not on the device`);
    return d;
  }
  get bytes(): number {
    return this.totalBytes;
  }
  dispose(): void {
    for (const b of this.bufs.values()) b.dispose();
    this.bufs.clear();
    this.shapes.clear();
    this.dtypes.clear();
    this.totalBytes = 0;
  }
}
