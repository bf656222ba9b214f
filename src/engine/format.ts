/**
 * The on-disk engine format. An engine is a directory:
 *
 *   config.json    EngineConfig, pretty JSON (for people and for `kiln run` to read first)
 *   rank0.engine   prefix | JSON header (space padded) | sections, each 4096-byte aligned
 *
 * Prefix (56 bytes, little endian):
 *   0  8  magic 'KILNENG\0'
 *   8  4  u32 formatVersion
 *   12 4  u32 reserved (0)
 *   16 8  u64 header bytes (the JSON header plus its padding; sections start right after it)
 *   24 32 SHA-256 of every byte after the prefix (header + padding + sections)
 *
 * Section offsets are absolute (from the start of the file) and 4096-byte aligned, so a section
 * can be viewed as a typed array over the file's one buffer, or mapped, without copying.
 */
import type { TypedData } from '../backends/types.js';
import type { DType, GraphDef } from '../graph/types.js';
import type { EngineSection, EngineSections, Target } from './types.js';

export const ENGINE_MAGIC = 'KILNENG\0';
/** Bump on any incompatible change of the prefix, header or section layout. */
export const ENGINE_FORMAT_VERSION = 1;
export const PREFIX_BYTES = 56;
export const SECTION_ALIGN = 4096;
export const CONFIG_FILE = 'config.json';
export const RANK0_FILE = 'rank0.engine';

/** The rank file of tensor-parallel rank `rank` (`rank0.engine` … `rank{N-1}.engine`). */
export function rankFileName(rank: number): string {
  return `rank${rank}.engine`;
}

/** Section kind of weights; other kinds (e.g. 'cubin', 'tactics') belong to target builders. */
export const WEIGHT_SECTION_KIND = 'weight';

/** One section of the rank file, as listed in the header. Offsets and sizes in bytes. */
export interface SectionInfo {
  readonly name: string;
  /** 'weight' for weights (name = weight name); anything else for target-specific blobs. */
  readonly kind: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Absolute byte offset in the rank file, a multiple of SECTION_ALIGN. */
  readonly offset: number;
  readonly bytes: number;
}

/** The JSON header of a rank file. */
export interface EngineHeader {
  readonly target: Target;
  readonly gpuArch: string | null;
  readonly graph: GraphDef;
  readonly sections: readonly SectionInfo[];
  /** Tensor-parallel rank of this file (absent in tp=1 engines: rank 0). */
  readonly rank?: number;
}

export interface EnginePrefix {
  readonly magic: string;
  readonly formatVersion: number;
  readonly headerBytes: number;
  readonly sha256: Uint8Array;
}

export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

export function encodePrefix(formatVersion: number, headerBytes: number, sha256: Uint8Array): Buffer {
  const b = Buffer.alloc(PREFIX_BYTES);
  b.write(ENGINE_MAGIC, 0, 'latin1');
  b.writeUInt32LE(formatVersion, 8);
  b.writeUInt32LE(0, 12);
  b.writeBigUInt64LE(BigInt(headerBytes), 16);
  Buffer.from(sha256.buffer, sha256.byteOffset, sha256.byteLength).copy(b, 24);
  return b;
}

/** Decodes the prefix; the caller checks magic and version. `b` has at least PREFIX_BYTES. */
export function decodePrefix(b: Uint8Array): EnginePrefix {
  const buf = Buffer.from(b.buffer, b.byteOffset, PREFIX_BYTES);
  return {
    magic: buf.toString('latin1', 0, 8),
    formatVersion: buf.readUInt32LE(8),
    headerBytes: Number(buf.readBigUInt64LE(16)),
    sha256: Uint8Array.from(buf.subarray(24, 56)),
  };
}

/** Where a section's bytes go, before offsets are known. */
export interface SectionLayoutInput {
  readonly name: string;
  readonly kind: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly bytes: number;
}

/**
 * Lays out header and sections: returns the padded header text and absolute offsets. The header
 * lists absolute offsets, whose digits change its length, so grow the data start to a fixed point.
 */
export function layoutRankFile(
  base: Omit<EngineHeader, 'sections'>,
  inputs: readonly SectionLayoutInput[],
): { header: EngineHeader; headerText: Buffer; dataStart: number; totalBytes: number } {
  let dataStart = SECTION_ALIGN;
  for (;;) {
    const sections: SectionInfo[] = [];
    let at = dataStart;
    for (const s of inputs) {
      sections.push({ name: s.name, kind: s.kind, dtype: s.dtype, shape: [...s.shape], offset: at, bytes: s.bytes });
      at = alignUp(at + s.bytes, SECTION_ALIGN);
    }
    const header: EngineHeader = { ...base, sections };
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const needed = alignUp(PREFIX_BYTES + json.length, SECTION_ALIGN);
    if (needed <= dataStart) {
      const headerText = Buffer.alloc(dataStart - PREFIX_BYTES, 0x20);
      json.copy(headerText, 0);
      const last = sections[sections.length - 1];
      const totalBytes = last ? last.offset + last.bytes : dataStart;
      return { header, headerText, dataStart, totalBytes };
    }
    dataStart = needed;
  }
}

/** A typed view of `bytes` as `dtype` stores it (float16/bfloat16 as raw Uint16 bits). */
export function viewAs(dtype: DType, bytes: Uint8Array): TypedData {
  const { buffer, byteOffset, byteLength } = bytes;
  switch (dtype) {
    case 'float32': return new Float32Array(buffer, byteOffset, byteLength / 4);
    case 'int32': return new Int32Array(buffer, byteOffset, byteLength / 4);
    case 'float16':
    case 'bfloat16': return new Uint16Array(buffer, byteOffset, byteLength / 2);
    case 'int8': return new Int8Array(buffer, byteOffset, byteLength);
    case 'fp8e4m3':
    case 'uint8': return new Uint8Array(buffer, byteOffset, byteLength);
  }
}

/** The raw bytes of a typed array (a view, no copy). */
export function bytesOf(data: TypedData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** In-memory EngineSections over a list (what target builders attach to a built engine). */
export function createEngineSections(list: readonly EngineSection[]): EngineSections {
  return {
    list: (kind) => list.filter((s) => kind === undefined || s.kind === kind),
    tryGet: (name) => list.find((s) => s.name === name),
  };
}
