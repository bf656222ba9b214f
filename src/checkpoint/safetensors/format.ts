/**
 * The safetensors layout (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__? }`,
 * then the tensor bytes; offsets are relative to the first byte after the header.
 */
import { z } from 'zod';
import type { DType } from '../../graph/types.js';
import { bytesPerElement } from '../../graph/dtype.js';
import { CheckpointError } from '../../errors/index.js';

/** Safetensors dtype names Kiln reads directly, with the Kiln dtype they become. */
const DIRECT: Readonly<Record<string, DType>> = {
  F32: 'float32', F16: 'float16', BF16: 'bfloat16', F8_E4M3: 'fp8e4m3', I32: 'int32', I8: 'int8', U8: 'uint8',
};

/** Stored dtypes that are narrowed on read (to int32 / float32) when that is lossless. */
export const NARROWED: Readonly<Record<string, { to: DType; bytes: number }>> = {
  I64: { to: 'int32', bytes: 8 },
  F64: { to: 'float32', bytes: 8 },
};

const TO_STORED: Readonly<Record<DType, string>> = {
  float32: 'F32', float16: 'F16', bfloat16: 'BF16', fp8e4m3: 'F8_E4M3', int32: 'I32', int8: 'I8', uint8: 'U8',
};

/** Largest header the spec allows (100 MB); anything bigger is a corrupt length field. */
export const MAX_HEADER_BYTES = 100_000_000;

export function storedDTypeName(dtype: DType): string {
  return TO_STORED[dtype];
}

/** One tensor's entry, validated; byte positions are absolute within its file. */
export interface TensorEntry {
  readonly name: string;
  /** The dtype `read()` returns. */
  readonly dtype: DType;
  /** The dtype name in the file (e.g. `I64` for a tensor read as int32). */
  readonly storedDType: string;
  readonly shape: readonly number[];
  /** Absolute byte position of the first byte (a plain number; files may exceed 2 GiB). */
  readonly start: number;
  /** Bytes stored. */
  readonly byteLength: number;
}

export interface ParsedHeader {
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  /** Absolute position where tensor data begins (8 + header length). */
  readonly dataStart: number;
}

const entrySchema = z.object({
  dtype: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  data_offsets: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
});

export function numElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function elementBytes(stored: string): { dtype: DType; bytes: number } | undefined {
  const direct = DIRECT[stored];
  if (direct) return { dtype: direct, bytes: bytesPerElement(direct) };
  const narrowed = NARROWED[stored];
  return narrowed ? { dtype: narrowed.to, bytes: narrowed.bytes } : undefined;
}

function parseEntry(file: string, name: string, raw: unknown, dataStart: number, fileSize: number): TensorEntry {
  const parsed = entrySchema.safeParse(raw);
  if (!parsed.success) {
    throw new CheckpointError(`${file}: tensor '${name}' has a malformed header entry (${parsed.error.issues[0]?.message ?? 'invalid'}); the file is corrupt, re-save it.`);
  }
  const { dtype: stored, shape, data_offsets: [begin, end] } = parsed.data;
  const kind = elementBytes(stored);
  if (!kind) {
    throw new CheckpointError(`${file}: tensor '${name}' has dtype ${stored}, which Kiln cannot read (supported: ${[...Object.keys(DIRECT), ...Object.keys(NARROWED)].join(', ')}); re-save it as F32, F16 or BF16.`);
  }
  const expected = numElements(shape) * kind.bytes;
  if (end < begin || end - begin !== expected) {
    throw new CheckpointError(`${file}: tensor '${name}' (${stored} [${shape.join(', ')}]) needs ${expected} bytes but its data_offsets [${begin}, ${end}] span ${end - begin}; the file is corrupt.`);
  }
  if (dataStart + end > fileSize) {
    throw new CheckpointError(`${file}: tensor '${name}' ends at byte ${dataStart + end} but the file has only ${fileSize} bytes; the file is truncated (an interrupted download or copy?) — fetch it again.`);
  }
  return { name, dtype: kind.dtype, storedDType: stored, shape, start: dataStart + begin, byteLength: expected };
}

/** Parses and validates a header against the file's size. Throws CheckpointError naming the file and tensor. */
export function parseHeader(file: string, json: string, dataStart: number, fileSize: number): ParsedHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (cause) {
    throw new CheckpointError(`${file}: the safetensors header is not valid JSON; the file is corrupt or not a safetensors file.`, { cause });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CheckpointError(`${file}: the safetensors header is not a JSON object; the file is corrupt.`);
  }
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (name === '__metadata__') {
      const meta = z.record(z.string(), z.string()).safeParse(value);
      if (!meta.success) throw new CheckpointError(`${file}: __metadata__ must map strings to strings; the file is corrupt.`);
      metadata = meta.data;
      continue;
    }
    tensors.set(name, parseEntry(file, name, value, dataStart, fileSize));
  }
  return { metadata, tensors, dataStart };
}
