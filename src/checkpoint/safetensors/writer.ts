/**
 * `writeSafetensors`: streams tensors one at a time into a temp file that is renamed into place,
 * so a crash never leaves half a file and the writer never holds more than one tensor's bytes.
 * With `maxShardBytes`, writes `model-0000i-of-0000n.safetensors` plus `model.safetensors.index.json`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TypedData } from '../../backends/types.js';
import type { DType } from '../../graph/types.js';
import { bytesPerElement } from '../../graph/dtype.js';
import { CheckpointError } from '../../errors/index.js';
import { numElements, storedDTypeName } from './format.js';

/** One tensor to write. `data` may be a function, called once when the tensor's turn comes. */
export interface WriteEntry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** bf16/f16 as Uint16Array bits, fp8 as Uint8Array; length = product of shape. */
  readonly data: TypedData | (() => TypedData | Promise<TypedData>);
}

export interface WriteOptions {
  /** `__metadata__` (string → string), e.g. `{ format: 'pt' }`. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Split into shards of at most this many tensor bytes (a larger single tensor gets its own shard). */
  readonly maxShardBytes?: number;
}

const WRITE_CHUNK = 1 << 26;

function entryBytes(e: WriteEntry): number {
  return numElements(e.shape) * bytesPerElement(e.dtype);
}

/** The header bytes: JSON padded with spaces so tensor data starts 8-byte aligned. */
export function encodeHeader(entries: readonly WriteEntry[], metadata?: Readonly<Record<string, string>>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const e of entries) {
    if (e.name === '__metadata__' || e.name in header) throw new CheckpointError(`writeSafetensors: duplicate or reserved tensor name '${e.name}'`);
    const size = entryBytes(e);
    header[e.name] = { dtype: storedDTypeName(e.dtype), shape: [...e.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  const out = Buffer.alloc(8 + padded.length);
  out.writeBigUInt64LE(BigInt(padded.length), 0);
  padded.copy(out, 8);
  return out;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length; ) {
    off += fs.writeSync(fd, bytes, off, Math.min(WRITE_CHUNK, bytes.length - off));
  }
}

async function resolveData(e: WriteEntry): Promise<Uint8Array> {
  const data = typeof e.data === 'function' ? await e.data() : e.data;
  const expected = numElements(e.shape);
  if (data.length !== expected || data.BYTES_PER_ELEMENT !== bytesPerElement(e.dtype)) {
    throw new CheckpointError(`writeSafetensors: tensor '${e.name}' (${e.dtype} [${e.shape.join(', ')}]) got ${data.length} elements of ${data.BYTES_PER_ELEMENT} bytes; expected ${expected} of ${bytesPerElement(e.dtype)}.`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A unique sibling temp path for `finalPath`. */
export function tempPathFor(finalPath: string): string {
  return `${finalPath}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

async function writeOne(file: string, entries: readonly WriteEntry[], metadata?: Readonly<Record<string, string>>): Promise<void> {
  const tmp = tempPathFor(file);
  const fd = fs.openSync(tmp, 'w');
  let ok = false;
  try {
    writeAll(fd, encodeHeader(entries, metadata));
    for (const e of entries) writeAll(fd, await resolveData(e));
    fs.fsyncSync(fd);
    ok = true;
  } finally {
    fs.closeSync(fd);
    if (!ok) fs.rmSync(tmp, { force: true });
  }
  fs.renameSync(tmp, file);
}

/** Splits entries greedily, in order, into groups of at most `maxBytes` tensor bytes. */
export function planShards(entries: readonly WriteEntry[], maxBytes: number): WriteEntry[][] {
  const shards: WriteEntry[][] = [];
  let current: WriteEntry[] = [];
  let size = 0;
  for (const e of entries) {
    const b = entryBytes(e);
    if (current.length > 0 && size + b > maxBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(e);
    size += b;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

function shardName(stem: string, i: number, n: number): string {
  const pad = (k: number) => String(k).padStart(5, '0');
  return `${stem}-${pad(i + 1)}-of-${pad(n)}.safetensors`;
}

/**
 * Writes `entries` to `file` (or to shards next to it). Returns the paths written, index last.
 * Each file appears only when complete (temp + rename).
 */
export async function writeSafetensors(file: string, entries: readonly WriteEntry[], options: WriteOptions = {}): Promise<string[]> {
  const shards = options.maxShardBytes ? planShards(entries, options.maxShardBytes) : [[...entries]];
  if (shards.length === 1) {
    await writeOne(file, entries, options.metadata);
    return [file];
  }
  const dir = path.dirname(file);
  const stem = path.basename(file).replace(/\.safetensors$/, '');
  const weightMap: Record<string, string> = {};
  const written: string[] = [];
  for (let i = 0; i < shards.length; i++) {
    const name = shardName(stem, i, shards.length);
    await writeOne(path.join(dir, name), shards[i]!, options.metadata);
    for (const e of shards[i]!) weightMap[e.name] = name;
    written.push(path.join(dir, name));
  }
  const totalSize = entries.reduce((a, e) => a + entryBytes(e), 0);
  const indexPath = path.join(dir, `${path.basename(file)}.index.json`);
  const tmp = tempPathFor(indexPath);
  fs.writeFileSync(tmp, JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n');
  fs.renameSync(tmp, indexPath);
  written.push(indexPath);
  return written;
}
