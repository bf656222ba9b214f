import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ENGINE_FORMAT_VERSION, SECTION_ALIGN, createEngineSections } from '../../src/engine/format.js';
import { loadEngine } from '../../src/engine/reader.js';
import { saveEngine } from '../../src/engine/writer.js';
import type { Engine, EngineConfig } from '../../src/engine/types.js';
import { EngineLoadError } from '../../src/errors/index.js';
import { fromFloat32 } from '../../src/graph/dtype.js';
import type { GraphDef } from '../../src/graph/types.js';
import { createMapWeightStore } from '../../src/builder/weights.js';

const graph: GraphDef = {
  tensors: [
    { id: 0, name: 'x', shape: ['num_tokens', 4], dtype: 'float32', kind: 'input' },
    { id: 1, name: 'w', shape: [4, 3], dtype: 'float32', kind: 'weight' },
    { id: 2, name: 'b', shape: [3], dtype: 'bfloat16', kind: 'weight' },
    { id: 3, shape: ['num_tokens', 3], dtype: 'float32', kind: 'intermediate' },
    { id: 4, shape: ['num_tokens', 3], dtype: 'float32', kind: 'intermediate' },
  ],
  nodes: [
    { id: 0, op: 'matmul', inputs: [0, 1], outputs: [3], attrs: { transposeB: false } },
    { id: 1, op: 'add', inputs: [3, 2], outputs: [4], attrs: {} },
  ],
  inputs: [0],
  outputs: [{ name: 'y', tensor: 4 }],
};

const w = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 2);
const b = fromFloat32('bfloat16', Float32Array.from([0.1, -0.2, 0.3])) as Uint16Array;

function makeConfig(over: Partial<EngineConfig> = {}): EngineConfig {
  return {
    formatVersion: ENGINE_FORMAT_VERSION, target: 'cpu', gpuArch: null,
    build: { maxBatchSize: 2, maxInputLen: 8, maxOutputLen: 8, maxNumTokens: 16, dtype: 'float32' },
    model: null, plan: { peakBytes: 512, naiveBytes: 512, offsets: { 3: 0, 4: 256 } }, passLog: ['test'], tpSize: 1,
    ...over,
  };
}

function makeEngine(): Engine {
  return {
    config: makeConfig(),
    graph,
    weights: createMapWeightStore({ w: { dtype: 'float32', shape: [4, 3], data: w }, b: { dtype: 'bfloat16', shape: [3], data: b } }),
    sections: createEngineSections([{ name: 'kernels', kind: 'cubin', data: Uint8Array.from([1, 2, 3]) }]),
  };
}

let tmp = '';
beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-engine-')); });
afterEach(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

function saveTo(name = 'eng'): string {
  const dir = path.join(tmp, name);
  const tok = path.join(tmp, 'tokenizer.json');
  fs.writeFileSync(tok, '{"model":{}}');
  saveEngine(makeEngine(), dir, {
    extraSections: [{ name: 'tactics.json', kind: 'tactics', data: new TextEncoder().encode('{"a":1}') }],
    files: [{ name: 'tokenizer.json', from: tok }],
  });
  return dir;
}

function rank(dir: string): string {
  return path.join(dir, 'rank0.engine');
}

function expectLoadError(dir: string, pattern: RegExp, options?: Parameters<typeof loadEngine>[1]): void {
  let caught: unknown;
  try { loadEngine(dir, options); } catch (err) { caught = err; }
  expect(caught).toBeInstanceOf(EngineLoadError);
  expect((caught as Error).message).toMatch(pattern);
}

describe('engine file round trip', () => {
  it('restores config, graph, weights and sections from one buffer', () => {
    const dir = saveTo();
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'rank0.engine', 'tokenizer.json']);
    expect(fs.readdirSync(tmp).sort()).toEqual(['eng', 'tokenizer.json']); // no temp dirs left
    const e = loadEngine(dir, { target: 'cpu' });
    expect(e.config).toEqual(makeConfig());
    expect(e.graph).toEqual(graph);
    expect([...e.weights.names()].sort()).toEqual(['b', 'w']);
    const wt = e.weights.get('w');
    expect(wt.dtype).toBe('float32');
    expect(wt.shape).toEqual([4, 3]);
    expect(Array.from(wt.data)).toEqual(Array.from(w));
    const bt = e.weights.get('b');
    expect(bt.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(bt.data)).toEqual(Array.from(b));
    expect(wt.data.buffer).toBe(bt.data.buffer); // views of the one file buffer
    expect(Array.from(e.sections.tryGet('kernels')!.data)).toEqual([1, 2, 3]);
    expect(e.sections.list('tactics').map((s) => new TextDecoder().decode(s.data))).toEqual(['{"a":1}']);
    expect(e.sections.list().map((s) => s.name)).toEqual(['kernels', 'tactics.json']);
    for (const s of e.sectionTable) expect(s.offset % SECTION_ALIGN).toBe(0);
    expect(fs.statSync(rank(dir)).size).toBe(Math.max(...e.sectionTable.map((s) => s.offset + s.bytes)));
  });

  it('writes the 56-byte prefix: magic, version, header length', () => {
    const buf = fs.readFileSync(rank(saveTo()));
    expect(buf.toString('latin1', 0, 8)).toBe('KILNENG\0');
    expect(buf.readUInt32LE(8)).toBe(ENGINE_FORMAT_VERSION);
    expect(buf.readUInt32LE(12)).toBe(0);
    expect((56 + Number(buf.readBigUInt64LE(16))) % SECTION_ALIGN).toBe(0);
  });

  it('replaces an existing engine directory but refuses a directory of other files', () => {
    const dir = saveTo();
    saveTo(); // same dir again
    expect(loadEngine(dir).weights.names()).toHaveLength(2);
    const other = path.join(tmp, 'photos');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'cat.jpg'), 'x');
    expect(() => saveEngine(makeEngine(), other)).toThrow(/not a Kiln engine directory/);
    expect(fs.readFileSync(path.join(other, 'cat.jpg'), 'utf8')).toBe('x');
  });

  it('removes temp directories that a killed save left behind, but not those of live processes', () => {
    const stale = path.join(tmp, 'eng.tmp-99999999-deadbeef');
    const live = path.join(tmp, `eng.tmp-${process.pid}-cafef00d`);
    fs.mkdirSync(stale);
    fs.mkdirSync(live);
    fs.writeFileSync(path.join(stale, 'rank0.engine.partial'), 'half');
    saveTo();
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.existsSync(live)).toBe(true);
  });

  it('leaves nothing behind when writing fails midway', () => {
    const engine = makeEngine();
    const broken: Engine = { ...engine, weights: { ...engine.weights, get: () => { throw new Error('disk on fire'); } } };
    expect(() => saveEngine(broken, path.join(tmp, 'eng'))).toThrow('disk on fire');
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});

describe('engine load errors', () => {
  it('missing directory', () => {
    expectLoadError(path.join(tmp, 'nope'), /engine directory .*nope does not exist; build one with `kiln build/);
  });

  it('missing config.json or rank0.engine', () => {
    const dir = saveTo();
    fs.rmSync(rank(dir));
    expectLoadError(dir, /rank0\.engine is missing: the engine directory is incomplete; rebuild/);
    fs.rmSync(path.join(dir, 'config.json'));
    expectLoadError(dir, /config\.json is missing/);
  });

  it('not a Kiln engine (magic)', () => {
    const dir = saveTo();
    const buf = fs.readFileSync(rank(dir));
    buf.write('GGUF', 0, 'latin1');
    fs.writeFileSync(rank(dir), buf);
    expectLoadError(dir, /is not a Kiln engine \(bad magic bytes\)/);
  });

  it('wrong format version', () => {
    const dir = saveTo();
    const buf = fs.readFileSync(rank(dir));
    buf.writeUInt32LE(ENGINE_FORMAT_VERSION + 6, 8);
    fs.writeFileSync(rank(dir), buf);
    expectLoadError(dir, new RegExp(`format version ${ENGINE_FORMAT_VERSION + 6}, but this Kiln reads version ${ENGINE_FORMAT_VERSION}; rebuild`));
  });

  it('truncated: in the sections, in the header, in the prefix', () => {
    const dir = saveTo();
    const full = fs.readFileSync(rank(dir));
    fs.writeFileSync(rank(dir), full.subarray(0, full.length - 5));
    expectLoadError(dir, new RegExp(`truncated: expected ${full.length} bytes, found ${full.length - 5}`));
    fs.writeFileSync(rank(dir), full.subarray(0, 100));
    expectLoadError(dir, /truncated: expected 4096 bytes, found 100/);
    fs.writeFileSync(rank(dir), full.subarray(0, 30));
    expectLoadError(dir, /truncated: expected 56 bytes, found 30/);
  });

  it('checksum mismatch, unless verify is off', () => {
    const dir = saveTo();
    const e = loadEngine(dir);
    const w0 = e.sectionTable.find((s) => s.name === 'w')!;
    const buf = fs.readFileSync(rank(dir));
    buf[w0.offset + 1]! ^= 0x40;
    fs.writeFileSync(rank(dir), buf);
    expectLoadError(dir, /failed its SHA-256 checksum: the file is corrupt; rebuild/);
    expect(loadEngine(dir, { verify: false }).weights.get('w').data[0]).not.toBe(w[0]);
  });

  it('corrupt header is reported as a checksum failure', () => {
    const dir = saveTo();
    const buf = fs.readFileSync(rank(dir));
    buf[56] = 0x21; // '!' where '{' was
    fs.writeFileSync(rank(dir), buf);
    expectLoadError(dir, /SHA-256 checksum/);
    expectLoadError(dir, /unreadable header/, { verify: false });
  });

  it('target mismatch', () => {
    expectLoadError(saveTo(), /built for target 'cpu' but target 'cuda' was asked for; rebuild with `kiln build \.\.\. --target cuda`/, { target: 'cuda' });
  });

  it('config.json disagreeing with the rank file', () => {
    const dir = saveTo();
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(makeConfig({ target: 'cuda', gpuArch: 'sm_90' })));
    expectLoadError(dir, /disagrees with rank0\.engine \(target 'cuda' vs 'cpu', gpuArch sm_90 vs null\)/);
    fs.writeFileSync(path.join(dir, 'config.json'), '{"formatVersion": 1');
    expectLoadError(dir, /config\.json is not valid JSON/);
    fs.writeFileSync(path.join(dir, 'config.json'), '{"formatVersion": 1}');
    expectLoadError(dir, /is not a Kiln engine config \(target:/);
  });
});
