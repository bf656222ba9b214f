import { describe, expect, it } from 'vitest';
import type { CudaDevice, DeviceBuffer, KernelArg, LaunchDims, Stream } from '../../../src/backends/cuda/device.js';
import { buildPenaltyCsr, DeviceSampler } from '../../../src/backends/cuda/device-sampler.js';
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
        // The copy happens when the stream is synchronized (as on the device, after the kernels).
        downloadAsync: (dst: Uint8Array) => pendingCopies.push(() => dst.set(bytesArr.subarray(0, dst.byteLength))),
        dispose: () => mem.delete(ptr),
      } as unknown as DeviceBuffer;
    },
    allocPinnedHost: (bytes: number) => ({ bytes: new Uint8Array(bytes), dispose: () => undefined }),
  } as unknown as CudaDevice;
  const kernels = { get: (name: string) => ({ launch: (dims: LaunchDims, _s: Stream | null, args: KernelArg[]) => launches.push({ name, dims, args }) }) } as unknown as KernelSet;
  return { device, kernels, launches, mem };
}

const pendingCopies: (() => void)[] = [];
const stream = { synchronize: () => pendingCopies.splice(0).forEach((c) => c()) } as unknown as Stream;
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
    expect([...s.read(3, stream).tokenIds]).toEqual([11, 22, 33]);
    expect(() => s.enqueue(0, [greedy, greedy, greedy, greedy, greedy], stream)).toThrow(/at most 4/);
    s.dispose();
    expect(f.mem.size).toBe(0);
  });
});

describe('penalties and logprobs on the device (fake device)', () => {
  it('builds one CSR of (id, output count, flags) triples; suppression merges into a seen id', () => {
    const pen = { repetition: 1.2, presence: 0.5, frequency: 0.1, ids: Int32Array.from([5, 9, 2]), outCounts: Int32Array.from([0, 3, 1]) };
    const csr = buildPenaltyCsr([{ ...greedy, penalties: pen, suppress: [9, 7] }, greedy, { ...greedy, suppress: [1] }]);
    expect([...csr.rowStarts]).toEqual([0, 4, 4, 5]);
    expect(csr.entries).toEqual([5, 0, 1, 9, 3, 3, 2, 1, 1, 7, 0, 2, 1, 0, 2]);
  });

  it('launches apply_penalties, the selection, restore_penalized and row_logprobs, and parses the results', () => {
    const f = fakes();
    const s = new DeviceSampler(f.device, f.kernels, 4, 1000);
    const pen = { repetition: 1.5, presence: 0.25, frequency: 0, ids: Int32Array.from([3, 4]), outCounts: Int32Array.from([0, 2]) };
    s.enqueue(0xabc000, [{ ...greedy, penalties: pen, logprobs: 2 }, greedy, { ...greedy, logprobs: 0 }], stream);
    expect(f.launches.map((l) => l.name)).toEqual(['apply_penalties', 'argmax_rows', 'restore_penalized', 'row_logprobs']);
    // params (0x10000), results (0x20000), extras grown on first use (0x30000), saved values (0x40000)
    const extras = f.mem.get(0x30000)!;
    expect([...new Float64Array(extras.buffer, 0, 9)]).toEqual([1.5, 0.25, 0, 1, 0, 0, 1, 0, 0]);
    const rowStarts = 8 * 3 * 4, numTop = rowStarts + 4 * 5, entries = numTop + 4 * 4;
    expect([...new Int32Array(extras.buffer, rowStarts, 4)]).toEqual([0, 2, 2, 2]);
    expect([...new Int32Array(extras.buffer, numTop, 3)]).toEqual([2, -1, 0]);
    expect([...new Int32Array(extras.buffer, entries, 6)]).toEqual([3, 0, 1, 4, 2, 1]);
    const pen0 = f.launches[0]!.args.map((a) => Number(a.value));
    expect(pen0).toEqual([0xabc000, 1000, 0x30000 + rowStarts, 0x30000 + entries, 0x30000, 0x40000]);
    const lp = f.launches[3]!.args.map((a) => Number(a.value));
    expect(lp).toEqual([0xabc000, 1000, 0x30000 + numTop, 0x20000, 0x20000 + 16, 0x20000 + 32, 0x20000 + 16 * 22]);
    // Results on the "device": ids, chosen logprobs, top ids (-1 = none), top logprobs.
    const res = f.mem.get(0x20000)!;
    new Int32Array(res.buffer, 0, 3).set([7, 8, 9]);
    new Float32Array(res.buffer, 16, 3).set([-0.5, 0, -1.25]);
    new Int32Array(res.buffer, 32, 60).set([7, 2, -1]);
    new Float32Array(res.buffer, 16 * 22, 60).set([-0.5, -2]);
    const out = s.read(3, stream);
    expect([...out.tokenIds]).toEqual([7, 8, 9]);
    expect(out.logprobs).toEqual([{ logprob: -0.5, top: [{ tokenId: 7, logprob: -0.5 }, { tokenId: 2, logprob: -2 }] }, undefined, { logprob: -1.25, top: [] }]);
    s.dispose();
    expect(f.mem.size).toBe(0);
  });

  it('skips the extra kernels for plain rows and penalties without logprobs skip the restore', () => {
    const f = fakes();
    const s = new DeviceSampler(f.device, f.kernels, 4, 1000);
    s.enqueue(0xabc000, [greedy], stream);
    s.enqueue(0xabc000, [{ ...greedy, suppress: [5] }], stream);
    expect(f.launches.map((l) => l.name)).toEqual(['argmax_rows', 'apply_penalties', 'argmax_rows']);
    expect(s.read(1, stream).logprobs).toBeUndefined();
    s.dispose();
  });
});
