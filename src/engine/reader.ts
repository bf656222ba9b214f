/**
 * Loads an engine directory: reads `rank0.engine` once into one buffer, checks it, and serves
 * weights and sections as views of that buffer (no second copy).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { EngineLoadError } from '../errors/index.js';
import type { HostTensor } from '../backends/types.js';
import type { Engine, EngineConfig, EngineSection, EngineSections, Target, WeightStore } from './types.js';
import {
  CONFIG_FILE, ENGINE_FORMAT_VERSION, ENGINE_MAGIC, PREFIX_BYTES, RANK0_FILE, WEIGHT_SECTION_KIND,
  decodePrefix, rankFileName, viewAs, type EngineHeader, type SectionInfo,
} from './format.js';

export interface LoadEngineOptions {
  /** The target the caller will run on; a different build target is an error. */
  readonly target?: Target;
  /** Check the SHA-256 of the rank file (default true). */
  readonly verify?: boolean;
  /** Tensor-parallel rank whose file (`rank{rank}.engine`) to load (default 0). */
  readonly rank?: number;
}

/** An engine read from disk: weights and sections are views of the rank file's buffer. */
export interface LoadedEngine extends Engine {
  readonly sections: EngineSections;
  /** The directory it was loaded from (tokenizer files live there too). */
  readonly dir: string;
  /** The header's section table (weights and others), for tools and tests. */
  readonly sectionTable: readonly SectionInfo[];
  /** Tensor-parallel rank of the loaded file (0 for tp=1 engines). */
  readonly rank: number;
}

const REBUILD = 'rebuild it with `kiln build --checkpoint_dir CKPT --output_dir DIR`';

const configSchema = z.object({
  formatVersion: z.number().int(),
  target: z.enum(['cpu', 'cuda']),
  gpuArch: z.string().nullable(),
  build: z.object({}).passthrough(),
  model: z.object({}).passthrough().nullable(),
  plan: z.object({ peakBytes: z.number(), naiveBytes: z.number(), offsets: z.record(z.string(), z.number()) }),
  passLog: z.array(z.string()),
  tpSize: z.number().int(),
});

/** Loads the engine directory `dir`. Throws EngineLoadError saying what is wrong and what to do. */
export function loadEngine(dir: string, options: LoadEngineOptions = {}): LoadedEngine {
  const root = path.resolve(dir);
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) {
    throw new EngineLoadError(`engine directory ${root} does not exist; build one with \`kiln build --checkpoint_dir CKPT --output_dir ${dir}\``);
  }
  const config = readConfig(root);
  const rank = options.rank ?? 0;
  if (!Number.isInteger(rank) || rank < 0 || rank >= config.tpSize) {
    throw new EngineLoadError(`rank ${rank} was asked of ${root}, an engine of ${config.tpSize} rank(s) (tp_size ${config.tpSize}); ranks are 0..${config.tpSize - 1}`);
  }
  const rankPath = path.join(root, rankFileName(rank));
  if (!fs.existsSync(rankPath)) throw new EngineLoadError(`${rankPath} is missing: the engine directory is incomplete; ${REBUILD}`);
  const buf = readWhole(rankPath);
  const header = checkRankFile(rankPath, buf, options);
  checkConfigAgrees(root, config, header);
  if ((header.rank ?? 0) !== rank) {
    throw new EngineLoadError(`${rankPath} records rank ${String(header.rank)}, not ${rank}: the rank files were renamed or mixed; ${REBUILD}`);
  }
  return { ...createLoadedEngine(root, config, header, buf), rank };
}

function readConfig(root: string): EngineConfig {
  const file = path.join(root, CONFIG_FILE);
  if (!fs.existsSync(file)) throw new EngineLoadError(`${file} is missing: ${root} is not a complete engine directory; ${REBUILD}`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new EngineLoadError(`${file} is not valid JSON (${(err as Error).message}); the engine is corrupt, ${REBUILD}`, { cause: err });
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new EngineLoadError(`${file} is not a Kiln engine config (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}); ${REBUILD}`);
  }
  return raw as EngineConfig;
}

/**
 * The rank file in one ArrayBuffer. Node 20 cannot make a Uint8Array over more than 4 GiB, but
 * views at any offset work, so everything reads through `view`.
 */
interface FileBuffer {
  readonly size: number;
  view(offset: number, length: number): Uint8Array;
}

const CHUNK = 1 << 30;

function readWhole(file: string): FileBuffer {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    // One ArrayBuffer of its own, so typed views at 4096-aligned offsets are aligned.
    const ab = new ArrayBuffer(size);
    let done = 0;
    while (done < size) {
      const n = fs.readSync(fd, new Uint8Array(ab, done, Math.min(size - done, CHUNK)), 0, Math.min(size - done, CHUNK), done);
      if (n === 0) break;
      done += n;
    }
    return { size: done, view: (offset, length) => new Uint8Array(ab, offset, length) };
  } finally {
    fs.closeSync(fd);
  }
}

function truncated(file: string, expected: number, actual: number): EngineLoadError {
  return new EngineLoadError(`${file} is truncated: expected ${expected} bytes, found ${actual} (an interrupted copy or download?); copy it again or ${REBUILD}`);
}

/** Checks prefix, size, target and checksum; returns the parsed header. */
function checkRankFile(file: string, buf: FileBuffer, options: LoadEngineOptions): EngineHeader {
  const magic = Buffer.from(buf.view(0, Math.min(8, buf.size))).toString('latin1');
  if (magic !== ENGINE_MAGIC) {
    if (buf.size < 8 && ENGINE_MAGIC.startsWith(magic)) throw truncated(file, PREFIX_BYTES, buf.size);
    throw new EngineLoadError(`${file} is not a Kiln engine (bad magic bytes); point --engine_dir at a directory written by \`kiln build\``);
  }
  if (buf.size < PREFIX_BYTES) throw truncated(file, PREFIX_BYTES, buf.size);
  const prefix = decodePrefix(buf.view(0, PREFIX_BYTES));
  if (prefix.formatVersion !== ENGINE_FORMAT_VERSION) {
    throw new EngineLoadError(`${file} has engine format version ${prefix.formatVersion}, but this Kiln reads version ${ENGINE_FORMAT_VERSION}; rebuild the engine with this Kiln's \`kiln build\``);
  }
  const headerEnd = PREFIX_BYTES + prefix.headerBytes;
  if (buf.size < headerEnd) throw truncated(file, headerEnd, buf.size);
  const header = parseHeader(file, buf, headerEnd, options.verify !== false ? prefix.sha256 : null);
  const expected = header.sections.reduce((m, s) => Math.max(m, s.offset + s.bytes), headerEnd);
  if (buf.size < expected) throw truncated(file, expected, buf.size);
  if (options.target !== undefined && options.target !== header.target) {
    throw new EngineLoadError(`${file} was built for target '${header.target}' but target '${options.target}' was asked for; rebuild with \`kiln build ... --target ${options.target}\``);
  }
  if (options.verify !== false && !hashMatches(buf, prefix.sha256)) {
    throw new EngineLoadError(`${file} failed its SHA-256 checksum: the file is corrupt; ${REBUILD}`);
  }
  return header;
}

function hashMatches(buf: FileBuffer, expected: Uint8Array): boolean {
  const hash = createHash('sha256');
  for (let at = PREFIX_BYTES; at < buf.size; at += CHUNK) hash.update(buf.view(at, Math.min(CHUNK, buf.size - at)));
  return Buffer.compare(hash.digest(), Buffer.from(expected)) === 0;
}

function parseHeader(file: string, buf: FileBuffer, headerEnd: number, sha: Uint8Array | null): EngineHeader {
  const text = Buffer.from(buf.view(PREFIX_BYTES, headerEnd - PREFIX_BYTES)).toString('utf8');
  try {
    const h = JSON.parse(text) as EngineHeader;
    if (!h || typeof h !== 'object' || !Array.isArray(h.sections) || typeof h.graph !== 'object') throw new Error('missing fields');
    return h;
  } catch (err) {
    if (sha && !hashMatches(buf, sha)) throw new EngineLoadError(`${file} failed its SHA-256 checksum: the file is corrupt; ${REBUILD}`);
    throw new EngineLoadError(`${file} has an unreadable header (${(err as Error).message}); the engine is corrupt, ${REBUILD}`, { cause: err });
  }
}

function checkConfigAgrees(root: string, config: EngineConfig, header: EngineHeader): void {
  const diffs: string[] = [];
  if (config.formatVersion !== ENGINE_FORMAT_VERSION) diffs.push(`formatVersion ${config.formatVersion} vs ${ENGINE_FORMAT_VERSION}`);
  if (config.target !== header.target) diffs.push(`target '${config.target}' vs '${header.target}'`);
  if (config.gpuArch !== header.gpuArch) diffs.push(`gpuArch ${String(config.gpuArch)} vs ${String(header.gpuArch)}`);
  if (diffs.length > 0) {
    throw new EngineLoadError(`${path.join(root, CONFIG_FILE)} disagrees with ${RANK0_FILE} (${diffs.join(', ')}): the directory mixes files of two builds; ${REBUILD}`);
  }
}

function createLoadedEngine(root: string, config: EngineConfig, header: EngineHeader, buf: FileBuffer): Omit<LoadedEngine, 'rank'> {
  const weights = new Map<string, SectionInfo>();
  const others = new Map<string, EngineSection>();
  for (const s of header.sections) {
    if (s.kind === WEIGHT_SECTION_KIND) weights.set(s.name, s);
    else others.set(s.name, { name: s.name, kind: s.kind, data: buf.view(s.offset, s.bytes) });
  }
  const store: WeightStore = {
    names: () => [...weights.keys()],
    has: (name) => weights.has(name),
    get: (name): HostTensor => {
      const s = weights.get(name);
      if (!s) throw new EngineLoadError(`engine ${root} has no weight '${name}'; ${REBUILD}`);
      return { dtype: s.dtype, shape: s.shape, data: viewAs(s.dtype, buf.view(s.offset, s.bytes)) };
    },
  };
  const sections: EngineSections = {
    list: (kind) => [...others.values()].filter((s) => kind === undefined || s.kind === kind),
    tryGet: (name) => others.get(name),
  };
  return { config, graph: header.graph, weights: store, sections, dir: root, sectionTable: header.sections };
}
