/**
 * The CPU paged KV cache: per layer one K and one V Float32Array pool laid out
 * [numBlocks, tokensPerBlock, numKvHeads, headDim]. Values are rounded to the spec's dtype
 * when written (float16/bfloat16/fp8 caches keep what a GPU cache of that dtype would hold).
 */
import { BackendError } from '../../errors/index.js';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, f32ToFp8e4m3Bits, fp8e4m3BitsToF32 } from '../../graph/dtype.js';
import type { KvCacheSpec } from '../types.js';

export class CpuKvCache {
  readonly spec: KvCacheSpec;
  readonly keys: Float32Array[];
  readonly values: Float32Array[];
  /** Floats per block (tokensPerBlock · numKvHeads · headDim). */
  readonly blockFloats: number;
  private readonly round: ((v: number) => number) | undefined;
  /** fp8 caches: per-layer K and V scales (stored = fp8(x / scale) · scale); 1.0 until set. */
  private readonly kScales: Float64Array;
  private readonly vScales: Float64Array;

  constructor(spec: KvCacheSpec) {
    for (const k of ['numLayers', 'numKvHeads', 'headDim', 'numBlocks', 'tokensPerBlock'] as const) {
      if (!Number.isInteger(spec[k]) || spec[k] <= 0) throw new BackendError(`kvCache.${k} must be a positive integer, got ${spec[k]}`);
    }
    this.spec = spec;
    this.blockFloats = spec.tokensPerBlock * spec.numKvHeads * spec.headDim;
    const size = spec.numBlocks * this.blockFloats;
    this.keys = Array.from({ length: spec.numLayers }, () => new Float32Array(size));
    this.values = Array.from({ length: spec.numLayers }, () => new Float32Array(size));
    this.kScales = new Float64Array(spec.numLayers).fill(1);
    this.vScales = new Float64Array(spec.numLayers).fill(1);
    this.round = spec.dtype === 'float16' ? (v) => f16BitsToF32(f32ToF16Bits(v))
      : spec.dtype === 'bfloat16' ? (v) => bf16BitsToF32(f32ToBf16Bits(v))
        : spec.dtype === 'fp8e4m3' ? (v) => fp8e4m3BitsToF32(f32ToFp8e4m3Bits(v)) : undefined;
  }

  get bytes(): number {
    return 2 * this.spec.numLayers * this.spec.numBlocks * this.blockFloats * 4;
  }

  /** Sets layer `layer`'s fp8 K and V scales (the values are kept dequantized in float32 on the CPU). */
  setLayerScales(layer: number, kScale: number, vScale: number): void {
    if (!(kScale > 0) || !(vScale > 0)) throw new BackendError(`KV cache scales of layer ${layer} must be positive, got k ${kScale}, v ${vScale}`);
    this.kScales[layer] = kScale;
    this.vScales[layer] = vScale;
  }

  /** Copies whole blocks src → dst in every layer, K and V (copy-on-write of shared blocks). */
  copyBlocks(copies: readonly (readonly [number, number])[]): void {
    for (const [src, dst] of copies) {
      this.checkBlock(src);
      this.checkBlock(dst);
      const from = src * this.blockFloats, to = dst * this.blockFloats;
      for (const pool of [...this.keys, ...this.values]) pool.copyWithin(to, from, from + this.blockFloats);
    }
  }

  /** Writes rows of k, v ([T, numKvHeads·headDim]) into `layer` at the given slots. */
  write(layer: number, k: Float32Array, v: Float32Array, slots: Int32Array): void {
    const kp = this.keys[layer], vp = this.values[layer];
    if (!kp || !vp) throw new BackendError(`attention layer ${layer} is outside the KV cache (numLayers ${this.spec.numLayers})`);
    const width = this.spec.numKvHeads * this.spec.headDim;
    const numSlots = this.spec.numBlocks * this.spec.tokensPerBlock;
    for (let t = 0; t < slots.length; t++) {
      const slot = slots[t]!;
      if (slot < 0 || slot >= numSlots) throw new BackendError(`slotMapping[${t}] = ${slot} is outside the KV cache (${numSlots} slots)`);
      kp.set(k.subarray(t * width, (t + 1) * width), slot * width);
      vp.set(v.subarray(t * width, (t + 1) * width), slot * width);
      if (this.spec.dtype === 'fp8e4m3') {
        const ks = this.kScales[layer]!, vs = this.vScales[layer]!;
        for (let i = slot * width; i < (slot + 1) * width; i++) {
          kp[i] = fp8e4m3BitsToF32(f32ToFp8e4m3Bits(Math.fround(kp[i]! / ks))) * ks;
          vp[i] = fp8e4m3BitsToF32(f32ToFp8e4m3Bits(Math.fround(vp[i]! / vs))) * vs;
        }
      } else if (this.round) {
        for (let i = slot * width; i < (slot + 1) * width; i++) {
          kp[i] = this.round(kp[i]!);
          vp[i] = this.round(vp[i]!);
        }
      }
    }
  }

  private checkBlock(b: number): void {
    if (!Number.isInteger(b) || b < 0 || b >= this.spec.numBlocks) {
      throw new BackendError(`block copy names block ${b}, outside the KV cache (numBlocks ${this.spec.numBlocks})`);
    }
  }
}
