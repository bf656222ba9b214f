/**
 * The paged KV cache on the GPU: one K and one V pool per layer, each
 * [numBlocks, tokensPerBlock, numKvHeads, headDim] of the spec's dtype (bf16 or fp16: 2 bytes, fp8
 * e4m3 codes: 1 byte; the CPU backend's layout), which rope_write_kv fills and the attention kernels
 * read through block tables.
 */
import { BackendError } from '../../errors/index.js';
import type { KvCacheSpec } from '../types.js';
import type { CudaDevice, DeviceBuffer, Stream } from './device.js';
import { kvElementBytes, type KvDtype } from './kernels/index.js';

const KV_DTYPES: readonly string[] = ['bfloat16', 'float16', 'fp8e4m3'] satisfies KvDtype[];

export class CudaKvCache {
  private constructor(readonly spec: KvCacheSpec, readonly keys: DeviceBuffer[], readonly values: DeviceBuffer[]) {}

  /** Bytes of one block of one pool. */
  static blockBytes(spec: KvCacheSpec): number {
    return spec.tokensPerBlock * spec.numKvHeads * spec.headDim * kvElementBytes(spec.dtype as KvDtype);
  }

  /** Allocates every pool; throws `BackendError` for a dtype other than bf16/fp16/fp8. Frees what it took on failure. */
  static allocate(device: CudaDevice, spec: KvCacheSpec): CudaKvCache {
    if (!KV_DTYPES.includes(spec.dtype)) throw new BackendError(`the CUDA KV cache holds bfloat16, float16 or fp8e4m3; ${spec.dtype} was asked for`);
    const bytes = spec.numBlocks * CudaKvCache.blockBytes(spec);
    const keys: DeviceBuffer[] = [];
    const values: DeviceBuffer[] = [];
    try {
      for (let l = 0; l < spec.numLayers; l++) {
        keys.push(device.alloc(bytes));
        values.push(device.alloc(bytes));
      }
    } catch (e) {
      for (const b of [...keys, ...values]) b.dispose();
      throw e;
    }
    return new CudaKvCache(spec, keys, values);
  }

  get bytes(): number {
    return 2 * this.spec.numLayers * this.spec.numBlocks * CudaKvCache.blockBytes(this.spec);
  }

  /** Copies whole blocks src → dst in every layer, K and V (copy-on-write of shared prefixes). */
  copyBlocks(copies: readonly (readonly [number, number])[], stream: Stream): void {
    const bb = CudaKvCache.blockBytes(this.spec);
    for (const [src, dst] of copies) {
      for (const b of [src, dst]) {
        if (!Number.isInteger(b) || b < 0 || b >= this.spec.numBlocks) throw new BackendError(`block copy names block ${b}, outside the KV cache (numBlocks ${this.spec.numBlocks})`);
      }
      if (src === dst) continue;
      for (const pool of [...this.keys, ...this.values]) pool.copyFrom(pool, bb, stream, dst * bb, src * bb);
    }
  }

  dispose(): void {
    for (const b of [...this.keys, ...this.values]) b.dispose();
    this.keys.length = 0;
    this.values.length = 0;
  }
}
