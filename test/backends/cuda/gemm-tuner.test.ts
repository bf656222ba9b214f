import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TimingCache } from '../../../src/backends/cuda/gemm-tuner.js';
import type { GemmPlan } from '../../../src/backends/cuda/gemm.js';

const entry = {
  algoHex: 'ab'.repeat(64), index: 3, medianMs: 0.0876, workspaceBytes: 1024,
  timings: [{ index: 0, medianMs: 0.0895, tflops: 168, workspaceBytes: 0 }, { index: 3, medianMs: 0.0876, tflops: 171.6, workspaceBytes: 1024 }],
};
const plan = { shape: { m: 64, n: 28672, k: 4096, epilogue: 'none' } } as unknown as GemmPlan;

describe('TimingCache', () => {
  it('keys by GPU, cuBLASLt version, shape, dtype and epilogue', () => {
    expect(TimingCache.key('NVIDIA H100 80GB HBM3', 130100, plan)).toBe('NVIDIA H100 80GB HBM3|cublasLt 130100|m64 n28672 k4096|bf16|none');
  });

  it('saves atomically and reads back what it saved', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kiln-tc-')), 'cache.json');
    const a = new TimingCache(path);
    a.set('k1', entry);
    a.save();
    const b = new TimingCache(path);
    expect(b.size).toBe(1);
    expect(b.get('k1')).toEqual(entry);
    expect(JSON.parse(readFileSync(path, 'utf8')).version).toBe(1);
  });

  it('reads entries written before the GEMV tactic and keeps a GEMV timing', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kiln-tc-')), 'cache.json');
    const gemvEntry = { ...entry, kernel: 'gemv' as const, gemv: { ms: 0.019, cublasLtMs: 0.0215 } };
    writeFileSync(path, JSON.stringify({ version: 1, entries: { old: entry, new: gemvEntry } }));
    const c = new TimingCache(path);
    expect(c.get('old')).toEqual(entry);
    expect(c.get('old')?.kernel).toBeUndefined();
    expect(c.get('new')).toEqual(gemvEntry);
  });

  it('ignores a file that is not a valid cache instead of using bad algos', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kiln-tc-')), 'cache.json');
    writeFileSync(path, JSON.stringify({ version: 1, entries: { k1: { ...entry, algoHex: 'zz' } } }));
    expect(new TimingCache(path).size).toBe(0);
  });
});
