/** Shared pieces of the GPU checks: fresh random data, bf16 packing, error norms, results. */
import { randomBytes } from 'node:crypto';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/graph/dtype.js';
import type { CudaDevice, DeviceBuffer, HostArray, Stream } from '../../src/backends/cuda/device.js';
import { timeOnDevice } from '../../src/backends/cuda/timing.js';

/** One line of the report. */
export interface CheckResult {
  readonly name: string;
  readonly pass: boolean;
  /** ‖out − ref‖ / ‖ref‖ (or another stated metric). */
  readonly error?: number;
  readonly tolerance?: number;
  readonly ms?: number;
  readonly gbps?: number;
  readonly tflops?: number;
  readonly note?: string;
}

/** xorshift128+ seeded once per run from the OS, so every run sees new inputs. */
export class Rng {
  private s0: bigint;
  private s1: bigint;
  readonly seedHex: string;
  constructor(seed?: Buffer) {
    const b = seed ?? randomBytes(16);
    this.seedHex = b.toString('hex');
    this.s0 = b.readBigUInt64LE(0) | 1n;
    this.s1 = b.readBigUInt64LE(8) | 2n;
  }
  private nextU64(): bigint {
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x ^= (x << 23n) & 0xffffffffffffffffn;
    this.s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return (this.s1 + y) & 0xffffffffffffffffn;
  }
  /** A fast float generator seeded from this stream (mulberry32), for bulk arrays. */
  floats(n: number, lo = -1, hi = 1): Float32Array {
    let a = Number(this.nextU64() & 0xffffffffn) >>> 0;
    const out = new Float32Array(n);
    const span = hi - lo;
    for (let i = 0; i < n; i++) {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      out[i] = lo + span * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
    }
    return out;
  }
  int(n: number): number {
    return Number(this.nextU64() % BigInt(n));
  }
  u64(): bigint {
    return this.nextU64();
  }
  permutation(n: number): Int32Array {
    const p = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }
}

/** f32 values rounded to bf16: the bits to upload and the exact values they stand for. */
export function toBf16(x: Float32Array): { bits: Uint16Array; values: Float32Array } {
  const bits = new Uint16Array(x.length);
  const values = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const b = f32ToBf16Bits(x[i]!);
    bits[i] = b;
    values[i] = bf16BitsToF32(b);
  }
  return { bits, values };
}

/** The 16-bit activation dtype of a kernel set (KernelShapes.actDtype). */
export type ActDtype = 'bfloat16' | 'float16';

/** f32 values rounded to the activation dtype: the bits to upload and the exact values they stand for. */
export function toAct(x: Float32Array, dtype: ActDtype = 'bfloat16'): { bits: Uint16Array; values: Float32Array } {
  if (dtype === 'bfloat16') return toBf16(x);
  const bits = new Uint16Array(x.length);
  const values = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const b = f32ToF16Bits(x[i]!);
    bits[i] = b;
    values[i] = f16BitsToF32(b);
  }
  return { bits, values };
}

export function fromAct(bits: Uint16Array, dtype: ActDtype = 'bfloat16'): Float32Array {
  if (dtype === 'bfloat16') return fromBf16(bits);
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16BitsToF32(bits[i]!);
  return out;
}

export function fromBf16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bf16BitsToF32(bits[i]!);
  return out;
}

/** ‖out − ref‖₂ / ‖ref‖₂ in float64; NaN anywhere in `out` gives Infinity (an unwritten or poisoned output). */
export function relError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (out.length !== ref.length) throw new Error(`length ${out.length} vs ${ref.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < out.length; i++) {
    const o = out[i]!;
    if (Number.isNaN(o)) return Infinity;
    num += (o - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}

/** Device memory helpers bound to one device and stream; frees everything on `dispose()`. */
export class Arena {
  private readonly bufs: DeviceBuffer[] = [];
  constructor(readonly device: CudaDevice, readonly stream: Stream) {}
  alloc(bytes: number): DeviceBuffer {
    const b = this.device.alloc(bytes);
    this.bufs.push(b);
    return b;
  }
  upload(data: HostArray): DeviceBuffer {
    const b = this.alloc(data.byteLength);
    b.upload(data, this.stream);
    return b;
  }
  /** A buffer of `bytes` filled with 0xff: NaN as f32/bf16, -1 as int32. */
  poisoned(bytes: number): DeviceBuffer {
    const b = this.alloc(bytes);
    b.fill(0xff, this.stream);
    return b;
  }
  bf16(b: DeviceBuffer, count: number): Float32Array {
    const bits = new Uint16Array(count);
    b.download(bits, this.stream);
    return fromBf16(bits);
  }
  /** `count` activations of `dtype` (0xffff poison reads as NaN in both). */
  act(b: DeviceBuffer, count: number, dtype: ActDtype = 'bfloat16'): Float32Array {
    const bits = new Uint16Array(count);
    b.download(bits, this.stream);
    return fromAct(bits, dtype);
  }
  time(fn: () => void, iters = 20): number {
    return timeOnDevice(this.device, this.stream, fn, { warmup: 3, iters });
  }
  dispose(): void {
    for (const b of this.bufs) b.dispose();
    this.bufs.length = 0;
  }
}

export const BF16_TOL = 1e-2;
/** fp16 outputs (10 mantissa bits, a few roundings per kernel) against the f32 CPU reference. */
export const F16_TOL = 1e-3;
export const actTol = (dtype: ActDtype = 'bfloat16'): number => (dtype === 'float16' ? F16_TOL : BF16_TOL);
export const gbps = (bytes: number, ms: number): number => bytes / (ms * 1e6);
