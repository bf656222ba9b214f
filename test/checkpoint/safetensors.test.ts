import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../src/checkpoint/safetensors/checkpoint.js';
import { writeSafetensors, type WriteEntry } from '../../src/checkpoint/safetensors/writer.js';
import { CheckpointError } from '../../src/errors/index.js';

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-st-')); });
afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

/** Builds a file exactly as the safetensors spec lays it out (8-byte LE length, JSON, data). */
function specFile(file: string, header: object, data: Buffer): void {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, data]));
}

const entries: WriteEntry[] = [
  { name: 'f32', dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, -2.5, 3e-8, 0, Infinity, -0]) },
  { name: 'f16', dtype: 'float16', shape: [3], data: Uint16Array.from([0x3c00, 0xc000, 0x7bff]) },
  { name: 'bf16', dtype: 'bfloat16', shape: [1, 2], data: Uint16Array.from([0x3f80, 0xbf00]) },
  { name: 'fp8', dtype: 'fp8e4m3', shape: [4], data: Uint8Array.from([0x38, 0xb8, 0x7e, 0x01]) },
  { name: 'i32', dtype: 'int32', shape: [2], data: Int32Array.from([-7, 2147483647]) },
  { name: 'i8', dtype: 'int8', shape: [3], data: Int8Array.from([-128, 0, 127]) },
  { name: 'u8', dtype: 'uint8', shape: [1], data: Uint8Array.from([255]) },
  { name: 'scalar', dtype: 'float32', shape: [], data: Float32Array.from([42]) },
];

describe('safetensors writer + reader', () => {
  it('round-trips every dtype bit for bit, with metadata and an 8-byte aligned header', async () => {
    const file = path.join(dir, 'a.safetensors');
    expect(await writeSafetensors(file, entries, { metadata: { format: 'pt' } })).toEqual([file]);
    const bytes = fs.readFileSync(file);
    const headerLen = Number(bytes.readBigUInt64LE(0));
    expect((8 + headerLen) % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString()) as Record<string, unknown>;
    expect(header.__metadata__).toEqual({ format: 'pt' });
    expect(header.f16).toEqual({ dtype: 'F16', shape: [3], data_offsets: [24, 30] });
    expect(header.fp8).toEqual({ dtype: 'F8_E4M3', shape: [4], data_offsets: [34, 38] });
    const ckpt = openCheckpoint(file);
    expect(ckpt.names()).toEqual(entries.map((e) => e.name));
    expect(ckpt.metadata).toEqual({ format: 'pt' });
    for (const e of entries) {
      const t = ckpt.read(e.name);
      expect(t.dtype).toBe(e.dtype);
      expect(t.shape).toEqual(e.shape);
      expect(t.data.constructor).toBe((e.data as object).constructor);
      expect([...t.data]).toEqual(Array.from(e.data as ArrayLike<number>));
      expect(ckpt.info(e.name)).toEqual({ dtype: e.dtype, shape: e.shape });
    }
    expect(ckpt.has('f32')).toBe(true);
    expect(ckpt.has('nope')).toBe(false);
    expect(() => ckpt.read('nope')).toThrow(/'nope' is not in the checkpoint/);
    expect(ckpt.get('u8').data[0]).toBe(255);
    ckpt.dispose();
    expect(fs.readdirSync(dir)).toEqual(['a.safetensors']);
  });

  it('round-trips random tensor lists, sharded or not (property)', async () => {
    const makers = {
      float32: (n: number) => Float32Array.from({ length: n }, (_, i) => i * 0.5 - 3),
      bfloat16: (n: number) => Uint16Array.from({ length: n }, (_, i) => (i * 7919) & 0xffff),
      uint8: (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31) & 0xff),
      int32: (n: number) => Int32Array.from({ length: n }, (_, i) => i * -1000003),
    } as const;
    const tensor = fc.record({ dtype: fc.constantFrom(...(Object.keys(makers) as (keyof typeof makers)[])), shape: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }) });
    let run = 0;
    await fc.assert(fc.asyncProperty(fc.array(tensor, { minLength: 1, maxLength: 8 }), fc.option(fc.integer({ min: 1, max: 200 })), async (list, shard) => {
      const sub = path.join(dir, `p${run++}`);
      fs.mkdirSync(sub);
      const written: WriteEntry[] = list.map((t, i) => ({ name: `t${i}`, dtype: t.dtype, shape: t.shape, data: makers[t.dtype](t.shape.reduce((a, b) => a * b, 1)) }));
      await writeSafetensors(path.join(sub, 'model.safetensors'), written, shard === null ? {} : { maxShardBytes: shard });
      const ckpt = openCheckpoint(sub);
      for (const e of written) {
        expect(ckpt.info(e.name)).toEqual({ dtype: e.dtype, shape: e.shape });
        expect(Array.from(ckpt.read(e.name).data)).toEqual(Array.from(e.data as ArrayLike<number>));
      }
      ckpt.dispose();
    }), { numRuns: 40 });
  });

  it('calls lazy data functions one at a time, in order', async () => {
    const calls: string[] = [];
    const lazy = entries.slice(0, 3).map((e) => ({ ...e, data: () => { calls.push(e.name); return e.data as Float32Array; } }));
    await writeSafetensors(path.join(dir, 'b.safetensors'), lazy);
    expect(calls).toEqual(['f32', 'f16', 'bf16']);
  });

  it('rejects data of the wrong length and leaves no temp file', async () => {
    const bad: WriteEntry = { name: 'w', dtype: 'float32', shape: [3], data: new Float32Array(2) };
    await expect(writeSafetensors(path.join(dir, 'c.safetensors'), [bad])).rejects.toThrow(/'w' .* got 2 elements/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('writes shards and an index that openCheckpoint reads back', async () => {
    const file = path.join(dir, 'model.safetensors');
    const written = await writeSafetensors(file, entries, { maxShardBytes: 20 });
    expect(written.map((p) => path.basename(p))).toEqual([
      'model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors', 'model.safetensors.index.json',
    ]);
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata.total_size).toBe(24 + 6 + 4 + 4 + 8 + 3 + 1 + 4);
    expect(index.weight_map.f32).toBe('model-00001-of-00003.safetensors');
    expect(index.weight_map.f16).toBe('model-00002-of-00003.safetensors');
    const ckpt = openCheckpoint(dir);
    expect([...ckpt.names()].sort()).toEqual(entries.map((e) => e.name).sort());
    expect([...ckpt.read('i8').data]).toEqual([-128, 0, 127]);
    ckpt.dispose();
    fs.rmSync(path.join(dir, 'model-00002-of-00003.safetensors'));
    expect(() => openCheckpoint(dir)).toThrow(/lists shard model-00002-of-00003.safetensors, which is missing/);
  });
});

describe('safetensors reader: spec files and errors', () => {
  it('reads a file laid out by hand per the spec, narrowing I64/F64 losslessly', () => {
    const file = path.join(dir, 'spec.safetensors');
    const data = Buffer.alloc(16 + 16 + 16);
    [1, -2, 3, 4].forEach((v, i) => data.writeInt32LE(v, i * 4));
    data.writeBigInt64LE(-5n, 16); data.writeBigInt64LE(1n << 30n, 24);
    data.writeDoubleLE(0.5, 32); data.writeDoubleLE(-1024.25, 40);
    specFile(file, {
      __metadata__: { foo: 'bar' },
      test: { dtype: 'I32', shape: [2, 2], data_offsets: [0, 16] },
      ids: { dtype: 'I64', shape: [2], data_offsets: [16, 32] },
      f64: { dtype: 'F64', shape: [2], data_offsets: [32, 48] },
    }, data);
    const ckpt = openCheckpoint(file);
    expect(ckpt.metadata).toEqual({ foo: 'bar' });
    expect([...ckpt.read('test').data]).toEqual([1, -2, 3, 4]);
    const ids = ckpt.read('ids');
    expect(ids.dtype).toBe('int32');
    expect([...ids.data]).toEqual([-5, 1 << 30]);
    const f = ckpt.read('f64');
    expect(f.dtype).toBe('float32');
    expect([...f.data]).toEqual([0.5, -1024.25]);
    ckpt.dispose();
  });

  it('refuses lossy I64 and F64 tensors, naming them', () => {
    const file = path.join(dir, 'lossy.safetensors');
    const data = Buffer.alloc(16);
    data.writeBigInt64LE(1n << 40n, 0);
    data.writeDoubleLE(0.1, 8);
    specFile(file, { big: { dtype: 'I64', shape: [1], data_offsets: [0, 8] }, tenth: { dtype: 'F64', shape: [1], data_offsets: [8, 16] } }, data);
    const ckpt = openCheckpoint(file);
    expect(() => ckpt.read('big')).toThrow(/tensor 'big' is I64 and holds 1099511627776/);
    expect(() => ckpt.read('tenth')).toThrow(/tensor 'tenth' is F64 .* float32 cannot represent exactly/);
    ckpt.dispose();
  });

  it('names the file and tensor of a truncated file, an unknown dtype and bad offsets', async () => {
    const file = path.join(dir, 't.safetensors');
    await writeSafetensors(file, entries);
    fs.truncateSync(file, fs.statSync(file).size - 3);
    const err = (() => { try { openCheckpoint(file); } catch (e) { return e; } return null; })();
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(new RegExp(`${file}: tensor 'scalar' ends at byte \\d+ but the file has only \\d+ bytes; the file is truncated`));
    specFile(file, { x: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, Buffer.alloc(8));
    expect(() => openCheckpoint(file)).toThrow(/tensor 'x' has dtype C64/);
    specFile(file, { y: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, Buffer.alloc(12));
    expect(() => openCheckpoint(file)).toThrow(/tensor 'y' \(F32 \[3\]\) needs 12 bytes but its data_offsets \[0, 8\] span 8/);
    fs.writeFileSync(file, Buffer.from([1, 2, 3]));
    expect(() => openCheckpoint(file)).toThrow(/too short \(3 bytes\)/);
  });

  it('explains what to do with a directory of PyTorch .bin weights, or a missing path', () => {
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'x');
    expect(() => openCheckpoint(dir)).toThrow(/pytorch_model\.bin.*safe_serialization=True/);
    expect(() => openCheckpoint(path.join(dir, 'nope'))).toThrow(/does not exist/);
  });

  it('reads a tensor stored past 2 GiB of a sparse file with positioned reads', () => {
    const file = path.join(dir, 'big.safetensors');
    const pad = 2 ** 31 + 24; // the far tensor starts beyond the int32 range of byte offsets
    const header = {
      pad: { dtype: 'U8', shape: [pad], data_offsets: [0, pad] },
      far: { dtype: 'F32', shape: [4], data_offsets: [pad, pad + 16] },
    };
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, Buffer.concat([len, json]));
    const dataStart = 8 + json.length;
    fs.ftruncateSync(fd, dataStart + pad + 16);
    fs.writeSync(fd, Buffer.from(Float32Array.from([1.5, -2, 3.25, 7]).buffer), 0, 16, dataStart + pad);
    fs.closeSync(fd);
    expect(fs.statSync(file).size).toBeGreaterThan(2 ** 31);
    const ckpt = openCheckpoint(file);
    expect([...ckpt.read('far').data]).toEqual([1.5, -2, 3.25, 7]);
    ckpt.dispose();
  });
});
