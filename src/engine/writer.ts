/**
 * Writes an engine directory atomically: everything goes into a temp directory next to the
 * target (rank file streamed and hashed as it is written, fsynced, renamed), then the directory
 * is renamed into place. A crash leaves at most a `*.tmp-*` directory, never a half engine.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bytesPerElement } from '../graph/dtype.js';
import { ConfigError } from '../errors/index.js';
import type { Engine } from './types.js';
import {
  CONFIG_FILE, ENGINE_FORMAT_VERSION, PREFIX_BYTES, RANK0_FILE, WEIGHT_SECTION_KIND,
  bytesOf, encodePrefix, layoutRankFile, rankFileName, type SectionLayoutInput,
} from './format.js';

export interface ExtraSection {
  readonly name: string;
  /** Anything but 'weight', e.g. 'cubin' or 'tactics'. */
  readonly kind: string;
  readonly data: Uint8Array;
}

export interface SaveEngineOptions {
  /** Non-weight sections to store besides `engine.sections`. */
  readonly extraSections?: readonly ExtraSection[];
  /** Files copied into the engine directory, e.g. the tokenizer files. */
  readonly files?: readonly { readonly name: string; readonly from: string }[];
}

interface PlannedSection extends SectionLayoutInput {
  /** Produces the bytes when the section is written (weights are built lazily, one at a time). */
  readonly load: () => Uint8Array;
}

/** Saves `engine` as the directory `dir` (replacing an existing engine directory there). */
export function saveEngine(engine: Engine, dir: string, options: SaveEngineOptions = {}): void {
  saveRankEngines([engine], dir, options);
}

/**
 * Saves a tensor-parallel engine: `engines[r]` as `rank{r}.engine` (its header records r when
 * there are several), config.json from `engines[0].config` (whose tpSize must be engines.length).
 */
export function saveRankEngines(engines: readonly Engine[], dir: string, options: SaveEngineOptions = {}): void {
  const engine = engines[0];
  if (!engine) throw new ConfigError('saveRankEngines needs at least one rank engine');
  if (engines.length > 1 && engine.config.tpSize !== engines.length) {
    throw new ConfigError(`${engines.length} rank engines were given but config.tpSize is ${engine.config.tpSize}; they must agree`);
  }
  const target = path.resolve(dir);
  checkReplaceable(target);
  removeStaleTemps(target);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  fs.mkdirSync(tmp);
  try {
    engines.forEach((e, rank) => {
      writeRankFile(e, path.join(tmp, rankFileName(rank)), planSections(e, options), engines.length > 1 ? rank : undefined);
    });
    writeFileSynced(path.join(tmp, CONFIG_FILE), `${JSON.stringify(engine.config, null, 2)}\n`);
    for (const f of options.files ?? []) fs.copyFileSync(f.from, path.join(tmp, f.name));
    fsyncPath(tmp);
    moveIntoPlace(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

function planSections(engine: Engine, options: SaveEngineOptions): PlannedSection[] {
  const out: PlannedSection[] = [];
  for (const t of engine.graph.tensors) {
    if (t.kind !== 'weight' || engine.config.dummyWeights) continue; // dummy engines: backends fill weights at load
    const name = t.name;
    if (name === undefined) throw new ConfigError(`weight tensor ${t.id} has no name; every weight needs one to be saved`);
    if (!engine.weights.has(name)) throw new ConfigError(`weight '${name}' is used by the graph but missing from the weights; rebuild from a complete checkpoint`);
    const shape = t.shape.map((d) => {
      if (typeof d !== 'number') throw new ConfigError(`weight '${name}' has a symbolic dim '${d}'; weights need fixed shapes`);
      return d;
    });
    const bytes = shape.reduce((a, b) => a * b, 1) * bytesPerElement(t.dtype);
    out.push({ name, kind: WEIGHT_SECTION_KIND, dtype: t.dtype, shape, bytes, load: () => weightBytes(engine, name, bytes) });
  }
  const extras = [...(engine.sections?.list() ?? []), ...(options.extraSections ?? [])];
  const seen = new Set(out.map((s) => s.name));
  for (const s of extras) {
    if (s.kind === WEIGHT_SECTION_KIND) throw new ConfigError(`extra section '${s.name}' may not use kind 'weight'; weights come from the engine's weight store`);
    if (seen.has(s.name)) throw new ConfigError(`two engine sections are named '${s.name}'; section names must be unique`);
    seen.add(s.name);
    out.push({ name: s.name, kind: s.kind, dtype: 'uint8', shape: [s.data.byteLength], bytes: s.data.byteLength, load: () => s.data });
  }
  return out;
}

function weightBytes(engine: Engine, name: string, expected: number): Uint8Array {
  const t = engine.weights.get(name);
  const bytes = bytesOf(t.data);
  if (bytes.byteLength !== expected) {
    throw new ConfigError(`weight '${name}' holds ${bytes.byteLength} bytes but the graph declares ${expected}; the checkpoint does not match the model`);
  }
  return bytes;
}

function writeRankFile(engine: Engine, file: string, sections: readonly PlannedSection[], rank?: number): void {
  const { headerText, totalBytes, header } = layoutRankFile(
    { target: engine.config.target, gpuArch: engine.config.gpuArch, graph: engine.graph, ...(rank !== undefined ? { rank } : {}) }, sections);
  const partial = `${file}.partial`;
  const fd = fs.openSync(partial, 'w');
  try {
    const hash = createHash('sha256');
    let pos = 0;
    const put = (b: Uint8Array): void => {
      hash.update(b);
      writeAll(fd, b, PREFIX_BYTES + pos);
      pos += b.byteLength;
    };
    put(headerText);
    header.sections.forEach((info, i) => {
      const pad = info.offset - PREFIX_BYTES - pos;
      if (pad > 0) put(new Uint8Array(pad));
      put(sections[i]!.load());
    });
    if (PREFIX_BYTES + pos !== totalBytes) throw new Error(`engine writer: wrote ${PREFIX_BYTES + pos} bytes, planned ${totalBytes}`);
    writeAll(fd, encodePrefix(ENGINE_FORMAT_VERSION, headerText.length, hash.digest()), 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(partial, file);
}

function writeAll(fd: number, b: Uint8Array, position: number): void {
  let done = 0;
  while (done < b.byteLength) {
    done += fs.writeSync(fd, b, done, Math.min(b.byteLength - done, 1 << 30), position + done);
  }
}

function writeFileSynced(file: string, text: string): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncPath(p: string): void {
  const fd = fs.openSync(p, 'r');
  try { fs.fsyncSync(fd); } catch { /* some filesystems refuse directory fsync */ } finally { fs.closeSync(fd); }
}

/** An existing target must be an engine directory (or empty): never replace someone's other files. */
function checkReplaceable(target: string): void {
  if (!fs.existsSync(target)) return;
  if (!fs.statSync(target).isDirectory()) throw new ConfigError(`output ${target} exists and is not a directory; choose another --output_dir`);
  const entries = fs.readdirSync(target);
  if (entries.length > 0 && !entries.includes(RANK0_FILE) && !entries.includes(CONFIG_FILE)) {
    throw new ConfigError(`output ${target} exists and is not a Kiln engine directory; choose another --output_dir or empty it`);
  }
}

function moveIntoPlace(tmp: string, target: string): void {
  if (!fs.existsSync(target)) {
    fs.renameSync(tmp, target);
  } else {
    const old = `${target}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
    fs.renameSync(target, old);
    try {
      fs.renameSync(tmp, target);
    } catch (err) {
      fs.renameSync(old, target);
      throw err;
    }
    fs.rmSync(old, { recursive: true, force: true });
  }
  fsyncPath(path.dirname(target));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Writes are synchronous, so a Ctrl-C kills the process mid-write and leaves its temp directory
 * (never a half engine at `target`). Such leftovers of dead processes are removed here.
 */
function removeStaleTemps(target: string): void {
  const parent = path.dirname(target);
  if (!fs.existsSync(parent)) return;
  const base = path.basename(target).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`^${base}\\.(tmp|old)-(\\d+)-[0-9a-f]{8}$`);
  for (const entry of fs.readdirSync(parent)) {
    const m = pattern.exec(entry);
    if (m && !isAlive(Number(m[2]))) fs.rmSync(path.join(parent, entry), { recursive: true, force: true });
  }
}
