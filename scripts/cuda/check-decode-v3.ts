/**
 * Device checks of the v3 decode attention kernel (attention_decode_v3): correctness against the CPU
 * backend's pagedAttention (outputs poisoned first) with the split count the dispatch picks and with
 * forced ones (1: one block per KV head over up to 3000 tokens, output written by the kernel itself;
 * 3; 64: most splits empty), the same checks on kernel sets for a small model (head_dim 64, GQA 8/2,
 * 32 tokens per block), an MQA one (head_dim 32, 4/1), head_dim 16, fp16 activations and the fp8 KV
 * cache (random caches and the rope_write_kv pipeline, whose qRows are not the identity), CUDA-graph
 * replay, and timings at the v1/v2 timing shapes; then the same for v3tc (the tensor-core variant, on the
 * shapes it supports). Every row name starts with `[v3]` or `[v3tc]` (or `[v1]` for the two v1 timings
 * check.ts lacks). The variant
 * kernel sets compile only attention_decode, attention_decode_v3 and attention_prefill (what
 * KernelSet.load and the decode launches need), plus rope_kv for the fp8 pipeline rows.
 */
import { compileCubin, nvrtcOptions } from '../../src/backends/cuda/compiler.js';
import { KernelSet, type CompiledKernelFile } from '../../src/backends/cuda/kernel-set.js';
import { checkKernelShapes, DECODE_PARTITION, definesFor, specialise, type KernelFile, type KernelShapes } from '../../src/backends/cuda/kernels/index.js';
import * as ops from '../../src/backends/cuda/ops.js';
import type { DecodeKernelName } from '../../src/backends/cuda/ops.js';
import { Arena, relError, toAct, type CheckResult } from './harness.js';
import { actOf, type Ctx } from './check-kernels.js';
import { attnTol, checkDecode, decodeScratch, fillRandom, FP8_KV_SCALES, scenario, timeDecode } from './check-attention.js';
import { checkFp8KvPipeline } from './check-dtypes.js';
import { checkGraph } from './check-graph.js';

type Check = readonly [string, () => CheckResult];

/** Runs `fn` with one decode kernel forced (KILN_DECODE_KERNEL), restoring the setting after. */
export function withDecodeKernel<T>(kernel: DecodeKernelName, fn: () => T): T {
  const before = process.env['KILN_DECODE_KERNEL'];
  process.env['KILN_DECODE_KERNEL'] = kernel;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env['KILN_DECODE_KERNEL'];
    else process.env['KILN_DECODE_KERNEL'] = before;
  }
}

const tag = (t: string, r: CheckResult): CheckResult => ({ ...r, name: `${t} ${r.name}` });

/** v3 (or v3tc) with `splits` forced on checkDecode's scenario (16 sequences, contexts 1, 255, 256, 257, 512, 3000 and random up to 3000). */
export function checkDecodeV3Splits(c: Ctx, splits: number, tensorCores = false): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const { numHeads: NH, numKvHeads: NKV, headDim: HD } = c.ks.shapes;
    const fixed = [1, 255, 256, 257, 512, 3000];
    const specs = Array.from({ length: 16 }, (_, i) => ({ numQ: 1, ctx: fixed[i] ?? 1 + c.rng.int(3000) }));
    const s = scenario(c, a, specs, true);
    const qRows = a.upload(Int32Array.from(specs, (_, i) => i));
    const out = a.poisoned(s.T * NH * HD * 2);
    ops.attentionDecodeV3(c.ks, c.stream, s.dev.q, NH * HD, qRows, s.dev.k, s.dev.v, s.dev.meta, s.maxCtx, 1 / Math.sqrt(HD),
      decodeScratch(a, c, specs.length, s.maxCtx), out, NH * HD, s.scales, splits, tensorCores);
    const err = relError(a.act(out, s.T * NH * HD, actOf(c)), s.ref!);
    return { name: `attention_decode ${splits} split(s) forced, 16 seqs ctx 1..3000 GQA ${NH}/${NKV}`, pass: err < attnTol(c), error: err, tolerance: attnTol(c),
      note: splits === 1 ? 'one block per (sequence, KV head): the kernel writes the output, no combine pass' : 'partial outputs merged by attention_decode_combine' };
  } finally { a.dispose(); }
}

/**
 * v3 (or v3tc) timed at `numSeqs` × `ctx` with each split count in `splits` forced, the same caches
 * for all (timeDecode's setup): tells whether a slow default timing comes from the split choice.
 */
export function timeDecodeV3Splits(c: Ctx, numSeqs: number, ctx: number, splits: readonly number[], tensorCores: boolean): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const { numHeads: NH, numKvHeads: NKV, headDim: HD, tokensPerBlock: TPB } = c.ks.shapes;
    const maxBlocks = Math.ceil(ctx / TPB), numBlocks = numSeqs * maxBlocks, eb = c.ks.shapes.kvDtype === 'fp8e4m3' ? 1 : 2;
    const kc = a.alloc(numBlocks * TPB * NKV * HD * eb), vc = a.alloc(numBlocks * TPB * NKV * HD * eb);
    fillRandom(c, a, kc); fillRandom(c, a, vc);
    const meta = { blockTables: a.upload(c.rng.permutation(numBlocks)), maxBlocksPerSeq: maxBlocks, contextLens: a.upload(new Int32Array(numSeqs).fill(ctx)), numSeqs };
    const q = a.upload(toAct(c.rng.floats(numSeqs * NH * HD), actOf(c)).bits), qRows = a.upload(Int32Array.from({ length: numSeqs }, (_, i) => i));
    const out = a.alloc(numSeqs * NH * HD * 2), scratch = decodeScratch(a, c, numSeqs, Math.max(ctx, Math.max(...splits) * DECODE_PARTITION)); // ≥ numSeqs · splits rows
    const times = splits.map((n) => a.time(() => ops.attentionDecodeV3(c.ks, c.stream, q, NH * HD, qRows, kc, vc, meta, ctx, 1 / Math.sqrt(HD), scratch, out, NH * HD,
      FP8_KV_SCALES, n, tensorCores)));
    const dflt = ops.decodeSplitsV3(numSeqs, NKV, ctx), best = times.indexOf(Math.min(...times));
    return { name: `attention_decode timing ${numSeqs} seqs x ${ctx} ctx by forced splits`, pass: true, ms: times[best],
      note: `${splits.map((n, i) => `${n}: ${times[i]!.toFixed(4)} ms`).join(', ')}; dispatch picks ${dflt}, fastest ${splits[best]!}` };
  } finally { a.dispose(); }
}

type SetCheck = readonly [string, (c: Ctx) => CheckResult];

/** Correctness rows for one kernel set (its dtype and shapes), v3 or v3tc forced: the dispatch's splits, then the given forced counts. */
function correctness(prefix: string, forced: readonly number[], kernel: 'v3' | 'v3tc' = 'v3'): SetCheck[] {
  return [
    [`${prefix} decode`, (c) => tag(prefix, withDecodeKernel(kernel, () => checkDecode(c)))],
    ...forced.map((n): SetCheck => [`${prefix} decode ${n} splits`, (c) => tag(prefix, checkDecodeV3Splits(c, n, kernel === 'v3tc'))]),
  ];
}

/** The kernel files every decode variant set needs: the decode kernels (v3's splits merged by attention_decode's combine) and attention_prefill (KernelSet.load sets its shared memory). */
const DECODE_FILES: readonly KernelFile[] = ['attention_decode', 'attention_decode_v3', 'attention_prefill'];

/** DECODE_FILES and `extra` (e.g. rope_kv for the fp8 pipeline rows) compiled for `shapes`, loaded. */
export function loadDecodeKernels(c: Ctx, shapes: KernelShapes, extra: readonly KernelFile[] = []): KernelSet {
  checkKernelShapes(shapes);
  const defs = definesFor(shapes);
  const compiled = [...DECODE_FILES, ...extra].map((file): CompiledKernelFile => {
    const o = compileCubin(specialise(file, defs[file], process.env['KILN_KERNEL_DIR']), `${file}.cu`, nvrtcOptions(c.device.info.arch));
    return { file, arch: c.device.info.arch, cubin: o.cubin, compileMs: o.compileMs, log: o.log };
  });
  return KernelSet.load(c.device, shapes, compiled);
}

/**
 * A kernel-set variant's checks: the set is compiled inside the first check that runs (a compile
 * failure fails every row of the variant) and disposed after the last.
 */
function variant(base: Ctx, shapes: KernelShapes, checks: readonly SetCheck[], extra: readonly KernelFile[] = []): Check[] {
  let ks: KernelSet | undefined;
  let failure: string | undefined;
  const ctx = (): Ctx => {
    if (failure !== undefined) throw new Error(`these kernels did not compile or load: ${failure}`);
    if (!ks) {
      try {
        ks = loadDecodeKernels(base, shapes, extra);
      } catch (e) {
        failure = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        throw e;
      }
    }
    return { ...base, ks };
  };
  return checks.map(([name, fn], i): Check => [name, () => {
    try {
      return fn(ctx());
    } finally {
      if (i === checks.length - 1) { ks?.dispose(); ks = undefined; }
    }
  }]);
}

/** The v1/v2 timing shapes. */
const TIMINGS: readonly (readonly [number, number])[] = [[64, 4096], [8, 32768], [1, 128], [1, 2048], [256, 192]];
const fp8Specs = (ctxs: readonly number[]) => ctxs.map((ctx) => ({ numQ: 1, ctx }));

/**
 * Every v3 row, as [name, fn] pairs for check.ts's attempt(): `c` is the Llama-3-8B bf16 kernel set
 * (v3 correctness, timings next to v1 at 8 × 32768, which check.ts does not time, and the CUDA graph
 * check), `small` the small model's shapes. Run them last: a kernel fault would end every check after it.
 */
export function decodeV3Checks(c: Ctx, small: KernelShapes): Check[] {
  const shapes = c.ks.shapes;
  return [
    ...correctness('[v3]', [1, 3, 64]).map(([name, fn]): Check => [name, () => fn(c)]),
    ...TIMINGS.map(([n, ctx]): Check => [`[v3] timing ${n}x${ctx}`, () => tag('[v3]', withDecodeKernel('v3', () => timeDecode(c, n, ctx)))]),
    ['[v3] timing 1x2048 by splits', () => tag('[v3]', timeDecodeV3Splits(c, 1, 2048, [1, 2, 4, 8, 16, 32], false))],
    ['[v1] timing 8x32768', () => tag('[v1]', withDecodeKernel('v1', () => timeDecode(c, 8, 32768)))],
    ['[v3] cuda graph', () => tag('[v3]', withDecodeKernel('v3', () => checkGraph(c)))],
    ...variant(c, small, correctness('[v3] [small]', [1, 64])),
    ...variant(c, { ...small, hiddenSize: 128, numHeads: 4, numKvHeads: 1, headDim: 32, tokensPerBlock: 16 }, correctness('[v3] [mqa hd32 4/1]', [1])),
    ...variant(c, { ...small, hiddenSize: 64, numHeads: 4, numKvHeads: 2, headDim: 16, tokensPerBlock: 16 }, correctness('[v3] [hd16 4/2]', [1])),
    ...variant(c, { ...shapes, hiddenSize: 8192, numHeads: 64 }, correctness('[v3] [GQA 64/8]', [1])),
    ...variant(c, { ...shapes, actDtype: 'float16' }, correctness('[v3] [f16]', [1])),
    ...variant(c, { ...shapes, kvDtype: 'fp8e4m3' }, [
      ...correctness('[v3] [fp8 KV bf16]', [1]),
      ['[v3] fp8 pipeline decode', (s) => tag('[v3]', withDecodeKernel('v3', () => checkFp8KvPipeline(s, 'decode', fp8Specs([1, 255, 256, 257, 600, 1000, 3000, 77]))))],
      ['[v3] fp8 pipeline decode short', (s) => tag('[v3] short', withDecodeKernel('v3', () => checkFp8KvPipeline(s, 'decode', fp8Specs([1, 2, 17, 64, 100, 127, 128, 33]))))],
      ['[v3] fp8 timing 64x4096', (s) => tag('[v3] [fp8 KV bf16]', withDecodeKernel('v3', () => timeDecode(s, 64, 4096)))],
      ['[v1] fp8 timing 64x4096', (s) => tag('[v1] [fp8 KV bf16]', withDecodeKernel('v1', () => timeDecode(s, 64, 4096)))],
    ], ['rope_kv']),
    ...variant(c, { ...shapes, actDtype: 'float16', kvDtype: 'fp8e4m3' }, [
      ...correctness('[v3] [fp8 KV f16]', []),
      ['[v3] fp8 f16 pipeline decode short', (s) => tag('[v3] short', withDecodeKernel('v3', () => checkFp8KvPipeline(s, 'decode', fp8Specs([1, 5, 128, 90]))))],
    ], ['rope_kv']),
    // v3tc (tensor cores: head_dim 64/128, GQA groups up to 8, 16-bit KV caches) after everything else.
    ...correctness('[v3tc]', [1, 64], 'v3tc').map(([name, fn]): Check => [name, () => fn(c)]),
    ...TIMINGS.map(([n, ctx]): Check => [`[v3tc] timing ${n}x${ctx}`, () => tag('[v3tc]', withDecodeKernel('v3tc', () => timeDecode(c, n, ctx)))]),
    ['[v3tc] timing 1x2048 by splits', () => tag('[v3tc]', timeDecodeV3Splits(c, 1, 2048, [1, 2, 4, 8, 16, 32], true))],
    ['[v3tc] cuda graph', () => tag('[v3tc]', withDecodeKernel('v3tc', () => checkGraph(c)))],
    ...variant(c, small, correctness('[v3tc] [small]', [1, 64], 'v3tc')),
    ...variant(c, { ...shapes, hiddenSize: 8192, numHeads: 64 }, correctness('[v3tc] [GQA 64/8]', [1], 'v3tc')),
    ...variant(c, { ...shapes, numHeads: 8 }, correctness('[v3tc] [GQA 8/8]', [1], 'v3tc')),
    ...variant(c, { ...shapes, actDtype: 'float16' }, correctness('[v3tc] [f16]', [1], 'v3tc')),
  ];
}
