import { describe, expect, it } from 'vitest';
import type { CudaDevice, DeviceBuffer, KernelArg, LaunchDims, Stream } from '../../../src/backends/cuda/device.js';
import { DeviceSampler } from '../../../src/backends/cuda/device-sampler.js';
import type { KernelSet } from '../../../src/backends/cuda/kernel-set.js';
import type { RowSampling } from '../../../src/backends/types.js';

/** A device whose buffers are host byte arrays at fake addresses, and kernels that record their launches. */
function fakes(): { device: CudaDevice; kernels: KernelSet; launches: { name: string; dims: LaunchDims; args: KernelArg[] }[]; mem: Map<number, Uint8Array> } {
  const mem = new Map<number, Uint8Array>();
  let next = 0x10000;
  const launches: { name: string; dims: LaunchDims; args: KernelArg[] }[] = [];
  const device = {
    alloc: (bytes: number) => {
      const ptr = next;
      next += 0x10000;
      const bytesArr = new Uint8Array(bytes);
      mem.set(ptr, bytesArr);
      return {
        ptr, bytes,
        upload: (src: ArrayBufferView) => bytesArr.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength)),
        download: (dst: Int32Array) => dst.set(new Int32Array(bytesArr.buffer, 0, dst.length)),
        dispose: () => mem.delete(ptr),
      } as unknown as DeviceBuffer;
    },
  } as unknown as CudaDevice;
  const kernels = { get: (name: string) => ({ launch: (dims: LaunchDims, _s: Stream | null, args: KernelArg[]) => launches.push({ name, dims, args }) }) } as unknown as KernelSet;
  return { device, kernels, launches, mem };
}

const stream = {} as Stream;
const greedy: RowSampling = { temperature: 0, topK: 0, topP: 1, minP: 0, uniform: 0 };

describe('DeviceSampler (fake device)', () => {
  it('runs argmax_rows when every row is greedy, sample_rows with packed per-row parameters otherwise', () => {
    const f = fakes();
    const s = new DeviceSampler(f.device, f.kernels, 4, 1000);
    s.enqueue(0xabc000, [greedy, greedy], stream);
    expect(f.launches.map((l) => l.name)).toEqual(['argmax_rows']);
    expect(f.launches[0]!.dims.grid[0]).toBe(2);
    expect(f.launches[0]!.args.map((a) => a.value)).toEqual([0xabc000, 1000, 0x20000]); // logits, vocab, ids buffer

    const rows: RowSampling[] = [greedy, { temperature: 0.5, topK: 7, topP: 0.9, minP: 0.05, uniform: 0.25 }, { temperature: 1, topK: 0, topP: 1, minP: 0, uniform: 0.75 }];
    s.enqueue(0xabc000, rows, stream);
    const l = f.launches[1]!;
    expect(l.name).toBe('sample_rows');
    expect(l.dims.grid[0]).toBe(3);
    const [logits, vocab, temp, topK, topP, minP, uniforms, ids] = l.args.map((a) => Number(a.value));
    expect([logits, vocab, ids]).toEqual([0xabc000, 1000, 0x20000]);
    // Five arrays of maxRows (4) entries, 16 bytes apart, in one buffer at 0x10000.
    expect([temp, topK, topP, minP, uniforms]).toEqual([0x10000, 0x10010, 0x10020, 0x10030, 0x10040]);
    const bytes = f.mem.get(0x10000)!;
    expect([...new Float32Array(bytes.buffer, 0, 3)]).toEqual([0, 0.5, 1]);
    expect([...new Int32Array(bytes.buffer, 16, 3)]).toEqual([0, 7, 0]);
    expect([...new Float32Array(bytes.buffer, 32, 3)]).toEqual([1, Math.fround(0.9), 1]);
    expect([...new Float32Array(bytes.buffer, 48, 3)]).toEqual([0, Math.fround(0.05), 0]);
    expect([...new Float32Array(bytes.buffer, 64, 3)]).toEqual([0, 0.25, 0.75]);

    new Int32Array(f.mem.get(0x20000)!.buffer).set([11, 22, 33, 44]);
    expect([...s.read(3, stream)]).toEqual([11, 22, 33]);
    expect(() => s.enqueue(0, [greedy, greedy, greedy, greedy, greedy], stream)).toThrow(/at most 4/);
    s.dispose();
    expect(f.mem.size).toBe(0);
  });
});
