/**
 * Lazy safetensors reading: only the header is read when a file is opened; each tensor is read
 * on demand with positioned reads (`fs.readSync(fd, buf, off, len, position)`), so a checkpoint is
 * never loaded whole and files over 2 GiB work (positions are plain numbers below 2^53).
 */
import fs from 'node:fs';
import os from 'node:os';
import type { HostTensor, TypedData } from '../../backends/types.js';
import { CheckpointError } from '../../errors/index.js';
import { MAX_HEADER_BYTES, parseHeader, type ParsedHeader, type TensorEntry } from './format.js';

if (os.endianness() !== 'LE') throw new Error('Kiln reads safetensors (little-endian) only on little-endian hosts');

/** Largest single read; readSync caps one call below 2 GiB. */
const MAX_READ_CHUNK = 1 << 30;

/** Reads exactly `length` bytes at `position` into `target`, in chunks. Returns bytes actually read. */
function readFully(fd: number, target: Uint8Array, position: number): number {
  let done = 0;
  while (done < target.length) {
    const len = Math.min(MAX_READ_CHUNK, target.length - done);
    const n = fs.readSync(fd, target, done, len, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** One open safetensors file. Owns a file descriptor: call `dispose()`. */
export class SafetensorsFile {
  readonly path: string;
  readonly header: ParsedHeader;
  private fd: number | null;

  constructor(path: string) {
    this.path = path;
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (cause) {
      throw new CheckpointError(`Cannot open ${path}: ${(cause as Error).message}`, { cause });
    }
    this.fd = fd;
    try {
      this.header = readHeader(fd, path);
    } catch (err) {
      fs.closeSync(fd);
      this.fd = null;
      throw err;
    }
  }

  /** Reads one tensor (bf16/f16 as Uint16Array bits, fp8 as Uint8Array; I64/F64 narrowed). */
  read(entry: TensorEntry): HostTensor {
    if (this.fd === null) throw new CheckpointError(`${this.path}: read('${entry.name}') after dispose()`);
    const bytes = new Uint8Array(entry.byteLength);
    const got = readFully(this.fd, bytes, entry.start);
    if (got !== entry.byteLength) {
      throw new CheckpointError(`${this.path}: tensor '${entry.name}' is truncated (read ${got} of ${entry.byteLength} bytes at offset ${entry.start}); the file changed or is incomplete — fetch it again.`);
    }
    return { dtype: entry.dtype, shape: entry.shape, data: view(entry, bytes) };
  }

  dispose(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

function readHeader(fd: number, path: string): ParsedHeader {
  const size = fs.fstatSync(fd).size;
  const lenBuf = new Uint8Array(8);
  if (size < 8 || readFully(fd, lenBuf, 0) !== 8) {
    throw new CheckpointError(`${path} is too short (${size} bytes) to be a safetensors file; it is truncated or not safetensors.`);
  }
  const headerLen = Number(Buffer.from(lenBuf).readBigUInt64LE(0));
  if (headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
    throw new CheckpointError(`${path}: header length ${headerLen} does not fit the file (${size} bytes); the file is truncated or not safetensors.`);
  }
  const json = new Uint8Array(headerLen);
  readFully(fd, json, 8);
  return parseHeader(path, Buffer.from(json).toString('utf8'), 8 + headerLen, size);
}

/** Views the bytes as the entry's dtype, narrowing I64 → int32 and F64 → float32 when lossless. */
function view(entry: TensorEntry, bytes: Uint8Array): TypedData {
  const buf = bytes.buffer;
  switch (entry.storedDType) {
    case 'F32': return new Float32Array(buf);
    case 'F16': case 'BF16': return new Uint16Array(buf);
    case 'F8_E4M3': case 'U8': return bytes;
    case 'I8': return new Int8Array(buf);
    case 'I32': return new Int32Array(buf);
    case 'I64': return narrowI64(entry, new BigInt64Array(buf));
    case 'F64': return narrowF64(entry, new Float64Array(buf));
    default: throw new CheckpointError(`tensor '${entry.name}': unsupported dtype ${entry.storedDType}`);
  }
}

function narrowI64(entry: TensorEntry, src: BigInt64Array): Int32Array {
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    if (v > 2147483647n || v < -2147483648n) {
      throw new CheckpointError(`tensor '${entry.name}' is I64 and holds ${v}, which does not fit int32; Kiln reads I64 only when every value fits int32.`);
    }
    out[i] = Number(v);
  }
  return out;
}

function narrowF64(entry: TensorEntry, src: Float64Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    out[i] = v;
    if (out[i] !== v && !Number.isNaN(v)) {
      throw new CheckpointError(`tensor '${entry.name}' is F64 and holds ${v}, which float32 cannot represent exactly; re-save the checkpoint as F32 (or F16/BF16).`);
    }
  }
  return out;
}
