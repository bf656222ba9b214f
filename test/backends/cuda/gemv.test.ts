/** The Kiln GEMV tactic, pure parts: the launcher's entry/grid/arguments, winner selection, tactic-schema compatibility. No device. */
import { describe, expect, it } from 'vitest';
import type { Kernel, KernelArg, LaunchDims } from '../../../src/backends/cuda/device.js';
import { tacticsSection, tryReadTactics } from '../../../src/backends/cuda/engine-sections.js';
import { gemvEnabled, pickGemmKernel, runsGemv, tacticSummary, weightCopies } from '../../../src/backends/cuda/gemm-tactic.js';
import { TimingCache } from '../../../src/backends/cuda/gemm-tuner.js';
import type { GemmPlan } from '../../../src/backends/cuda/gemm.js';
import { GEMV_MAX_ROWS, gemvApplies, gemvEpilogue, gemvLaunch, launchGemv, type GemvEntry } from '../../../src/backends/cuda/gemv.js';
import { KERNEL_FILES, specialise } from '../../../src/backends/cuda/kernels/index.js';

const ALGO = 'ab'.repeat(64);
const sectionsOf = (json: unknown) => {
  const s = { name: 'tactics', kind: 'json', data: new TextEncoder().encode(JSON.stringify(json)) };
  return { list: () => [s], tryGet: (name: string) => (name === 'tactics' ? s : undefined) };
};

describe('gemv launcher', () => {
  it('applies to 1..8 rows with K a multiple of 8', () => {
    expect(GEMV_MAX_ROWS).toBe(8);
    expect([0, 1, 8, 9].map((m) => gemvApplies({ m, k: 4096 }))).toEqual([false, true, true, false]);
    expect([4100, 4104, 0].map((k) => gemvApplies({ m: 1, k }))).toEqual([false, true, false]);
  });

  it('picks the smallest specialisation with room for m, and one block per 4 warps of its rows', () => {
    const got = [1, 2, 3, 4, 5, 8].map((m) => gemvLaunch(m, 4096));
    expect(got.map((g) => g.entry)).toEqual(['gemv_m1', 'gemv_m2', 'gemv_m4', 'gemv_m4', 'gemv_m8', 'gemv_m8']);
    // m1/m2: 2 rows per warp → 8 per block; m4/m8: 4 per warp → 16 per block; 128 threads.
    expect(got.map((g) => g.dims.grid[0])).toEqual([512, 512, 256, 256, 256, 256]);
    expect(got[0]!.dims.block).toEqual([128]);
    expect(gemvLaunch(1, 1013).dims.grid).toEqual([127]);
    expect(gemvLaunch(8, 1013).dims.grid).toEqual([64]);
    expect(() => gemvLaunch(9, 64)).toThrow(RangeError);
    expect(() => gemvLaunch(0, 64)).toThrow(RangeError);
  });

  it('maps every epilogue to a bias flag and act code (0 none, 1 relu, 2 gelu)', () => {
    const eps = ['none', 'bias', 'relu', 'relu_bias', 'gelu', 'gelu_bias'] as const;
    expect(eps.map(gemvEpilogue)).toEqual([
      { bias: false, act: 0 }, { bias: true, act: 0 }, { bias: false, act: 1 }, { bias: true, act: 1 }, { bias: false, act: 2 }, { bias: true, act: 2 }]);
  });

  it('launches the entry with the kernel signature gemv.cu declares', () => {
    const calls: { entry: GemvEntry; dims: LaunchDims; args: readonly KernelArg[] }[] = [];
    const ks = { get: (entry: GemvEntry) => ({ launch: (dims: LaunchDims, _s: unknown, args: readonly KernelArg[]) => calls.push({ entry, dims, args }) }) as unknown as Kernel };
    launchGemv(ks, null, { m: 3, n: 1000, k: 4096, epilogue: 'gelu_bias', outF32: true, a: 0x1000, lda: 4096, b: 0x2000, bias: 0x3000, d: 0x4000, ldd: 1024 });
    launchGemv(ks, null, { m: 1, n: 64, k: 64, epilogue: 'relu', outF32: false, a: 0x1000, lda: 64, b: 0x2000, bias: 0x3000, d: 0x4000, ldd: 64 });
    expect(calls[0]!.entry).toBe('gemv_m4');
    expect(calls[0]!.dims.grid).toEqual([63]);
    expect(calls[0]!.args.map((a) => Number(a.value))).toEqual([0x1000, 4096, 3, 1000, 4096, 0x2000, 0x3000, 2, 0x4000, 1024, 1]);
    // No bias in the epilogue: a null bias pointer whatever was passed.
    expect(calls[1]!.args.map((a) => Number(a.value))).toEqual([0x1000, 64, 1, 64, 64, 0x2000, 0, 1, 0x4000, 64, 0]);
    expect(() => launchGemv(ks, null, { m: 1, n: 64, k: 64, epilogue: 'bias', outF32: false, a: 1, lda: 64, b: 2, d: 3, ldd: 64 })).toThrow(/needs a bias/);
    expect(() => launchGemv(ks, null, { m: 9, n: 64, k: 64, epilogue: 'none', outF32: false, a: 1, lda: 64, b: 2, d: 3, ldd: 64 })).toThrow(RangeError);
  });

  it('is a kernel file whose entries the source defines', () => {
    expect(KERNEL_FILES.gemv.entries).toEqual(['gemv_m1', 'gemv_m2', 'gemv_m4', 'gemv_m8']);
    const src = specialise('gemv', { ACT_F16: 1 });
    for (const e of KERNEL_FILES.gemv.entries) expect(src).toContain(`${e}(GEMV_PARAMS)`);
    expect(src).toContain('#define ACT_F16 1');
  });
});

describe('gemv tactic selection', () => {
  it('keeps the GEMV only when timed and strictly faster', () => {
    expect(pickGemmKernel(0.0221, 0.02)).toBe('gemv');
    expect(pickGemmKernel(0.0221, 0.0221)).toBe('cublaslt');
    expect(pickGemmKernel(0.0221, 0.03)).toBe('cublaslt');
    expect(pickGemmKernel(0.0221, null)).toBe('cublaslt');
    expect(pickGemmKernel(0.0221, undefined)).toBe('cublaslt');
    expect(pickGemmKernel(0.0221, NaN)).toBe('cublaslt');
    expect(pickGemmKernel(0.0221, 0)).toBe('cublaslt');
  });

  it('runs the GEMV only for a gemv tactic that applies, unless KILN_GEMV=0', () => {
    expect(runsGemv({ kernel: 'gemv' }, { m: 4, k: 4096 }, {})).toBe(true);
    expect(runsGemv({ kernel: 'gemv' }, { m: 4, k: 4096 }, { KILN_GEMV: '0' })).toBe(false);
    expect(runsGemv({ kernel: 'gemv' }, { m: 4, k: 4096 }, { KILN_GEMV: '1' })).toBe(true);
    expect(runsGemv({ kernel: 'gemv' }, { m: 16, k: 4096 }, {})).toBe(false);
    expect(runsGemv({ kernel: 'cublaslt' }, { m: 1, k: 4096 }, {})).toBe(false);
    expect(runsGemv({}, { m: 1, k: 4096 }, {})).toBe(false);
    expect(runsGemv(undefined, { m: 1, k: 4096 }, {})).toBe(false);
    expect(gemvEnabled({ KILN_GEMV: '0' })).toBe(false);
    expect(gemvEnabled({})).toBe(true);
  });

  it('logs the winner beside the other kernel', () => {
    const tuned = { index: 3, medianMs: 0.025, fromCache: false, timings: [{ index: 0, medianMs: 0.026, tflops: 2, workspaceBytes: 0 }, { index: 3, medianMs: 0.025, tflops: 2, workspaceBytes: 0 }] };
    expect(tacticSummary(tuned, { ms: 0.02, cublasLtMs: 0.0221 }))
      .toBe('kiln gemv 0.0200 ms (cuBLASLt best #3 0.0221 ms, both graph-timed; tuning #3 0.0250 ms, heuristic #0 0.0260 ms)');
    expect(tacticSummary({ ...tuned, fromCache: true }, { ms: 0.03, cublasLtMs: 0.0221 }))
      .toBe('#3 0.0250 ms (heuristic #0 0.0260 ms; graph-timed: cuBLASLt 0.0221 ms vs kiln gemv 0.0300 ms) [timing cache]');
    expect(tacticSummary(tuned)).toBe('#3 0.0250 ms (heuristic #0 0.0260 ms)');
  });

  it('rotates through as many weight copies as fit (1..8)', () => {
    const gateUp = 2 * 28672 * 4096;
    expect(weightCopies(gateUp, 28672, 4096)).toBe(1);
    expect(weightCopies(gateUp, 4096, 4096)).toBe(7);
    expect(weightCopies(gateUp, 256, 256)).toBe(8);
    expect(weightCopies(100, 4096, 4096)).toBe(1);
  });
});

describe('tactics section compatibility', () => {
  it('reads an engine built before the GEMV tactic: no kernel field, which means cuBLASLt', () => {
    const old = { version: 1, gpu: 'NVIDIA H100 80GB HBM3', entries: { 'm1 n6144 k4096 none': { algoHex: ALGO, workspaceBytes: 0, medianMs: 0.0221, index: 2 } } };
    const t = tryReadTactics(sectionsOf(old))!;
    const e = t.entries['m1 n6144 k4096 none']!;
    expect(e).toEqual(old.entries['m1 n6144 k4096 none']);
    expect(e.kernel).toBeUndefined();
    expect(runsGemv(e, { m: 1, k: 4096 }, {})).toBe(false);
  });

  it('round-trips a GEMV tactic and rejects an unknown kernel', () => {
    const file = { version: 1 as const, gpu: 'H100', entries: { 'm1 n6144 k4096 none': { algoHex: ALGO, workspaceBytes: 0, medianMs: 0.0221, index: 2, kernel: 'gemv' as const, gemv: { ms: 0.019, cublasLtMs: 0.0215 } } } };
    const back = tryReadTactics({ list: () => [tacticsSection(file)], tryGet: () => tacticsSection(file) })!;
    expect(back).toEqual(file);
    expect(runsGemv(back.entries['m1 n6144 k4096 none'], { m: 1, k: 4096 }, {})).toBe(true);
    expect(tryReadTactics(sectionsOf({ ...file, entries: { x: { ...file.entries['m1 n6144 k4096 none'], kernel: 'triton' } } }))).toBeUndefined();
  });

  it('versions decode-sized timing-cache keys so old caches do not claim a GEMV result', () => {
    const plan = (m: number) => ({ shape: { m, n: 6144, k: 4096, epilogue: 'none' } }) as unknown as GemmPlan;
    expect(TimingCache.key('H100', 130100, plan(1))).toBe('H100|cublasLt 130100|m1 n6144 k4096|bf16|none|gemv v1');
    expect(TimingCache.key('H100', 130100, plan(8))).toBe('H100|cublasLt 130100|m8 n6144 k4096|bf16|none|gemv v1');
    expect(TimingCache.key('H100', 130100, plan(16))).toBe('H100|cublasLt 130100|m16 n6144 k4096|bf16|none');
  });
});
