/**
 * Device checks of the activation and KV cache dtypes (issue #5 FP16 engines, issue #7 FP8 KV):
 * - every kernel compiled with ACT_F16 (fp16 activations) against the CPU reference: the bf16 checks
 *   of check-kernels.ts / check-attention.ts, which follow the kernel set's dtype (tolerance 1e-3);
 * - fp16 cuBLASLt GEMMs with each epilogue against the CPU GEMM (1e-3);
 * - the fp8 KV cache end to end: rope_write_kv writes e4m3 codes of k/kScale and v/vScale, then decode
 *   and prefill attention read them, against the CPU backend's fp8 KV attention (CpuKvCache 'fp8e4m3'
 *   with the same scales, which quantizes its own rotated keys) on random inputs (tolerance 1e-2), with
 *   bf16 and fp16 activations; plus the fp8 attention kernels alone on random caches, and decode GB/s.
 */
import type { CublasLtHandle } from '../../src/backends/cuda/gemm.js';
import { compileKernels, KernelSet } from '../../src/backends/cuda/kernel-set.js';
import type { KernelShapes } from '../../src/backends/cuda/kernels/index.js';
import * as ops from '../../src/backends/cuda/ops.js';
import { ropeInvFreq } from '../../src/backends/cuda/rope.js';
import { pagedAttention } from '../../src/backends/cpu/kernels/attention.js';
import { RopeTable } from '../../src/backends/cpu/kernels/rope.js';
import { CpuKvCache } from '../../src/backends/cpu/kv-cache.js';
import type { SeqAttention } from '../../src/backends/types.js';
import { f32ToFp8e4m3Bits } from '../../src/graph/dtype.js';
import { Arena, relError, toAct, type CheckResult } from './harness.js';
import { actOf, checkEmbedding, checkRmsnorm, checkRopeKv, checkSiluMul, LLAMA3_SCALING, type Ctx } from './check-kernels.js';
import { checkDecode, checkPrefill, FP8_KV_SCALES, FP8_KV_TOL, timeDecode } from './check-attention.js';
import { checkGemmEpilogue } from './check-gemm.js';

type Attempt = (name: string, fn: () => CheckResult) => CheckResult;
interface SeqSpec { readonly numQ: number; readonly ctx: number }

const THETA = 500000;

/**
 * Every context token of `specs` goes through rope_write_kv (positions 0..ctx-1, fp8 cache), then
 * attention (decode: the last token of each sequence; prefill: the last numQ) reads the cache. The
 * CPU writes the prefix into an fp8 CpuKvCache and runs pagedAttention on the query tokens.
 */
export function checkFp8KvPipeline(c: Ctx, mode: 'decode' | 'prefill', specs: readonly SeqSpec[]): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const { numHeads: NH, numKvHeads: NKV, headDim: HD, tokensPerBlock: TPB } = c.ks.shapes;
    if (c.ks.shapes.kvDtype !== 'fp8e4m3') throw new Error('checkFp8KvPipeline needs a kernel set compiled for an fp8 KV cache');
    const dt = actOf(c), scales = FP8_KV_SCALES, row = NKV * HD, W = (NH + 2 * NKV) * HD;
    const N = specs.reduce((x, s) => x + s.ctx, 0);
    const blocksPer = specs.map((s) => Math.ceil(s.ctx / TPB));
    const numBlocks = blocksPer.reduce((x, y) => x + y, 0) + 4, maxBlocks = Math.max(...blocksPer);
    const perm = c.rng.permutation(numBlocks);
    const tables = new Int32Array(specs.length * maxBlocks);
    const positions = new Int32Array(N), slots = new Int32Array(N), seqStart = new Int32Array(specs.length);
    let next = 0, at = 0;
    specs.forEach((s, i) => {
      for (let b = 0; b < blocksPer[i]!; b++) tables[i * maxBlocks + b] = perm[next++]!;
      seqStart[i] = at;
      for (let p = 0; p < s.ctx; p++, at++) {
        positions[at] = p;
        slots[at] = tables[i * maxBlocks + Math.floor(p / TPB)]! * TPB + (p % TPB);
      }
    });
    const qkv = toAct(c.rng.floats(N * W, -2, 2), dt);
    const inv = ropeInvFreq(HD, THETA, LLAMA3_SCALING);
    const dqkv = a.upload(qkv.bits), qOut = a.poisoned(N * NH * HD * 2), out = a.poisoned(N * NH * HD * 2);
    const kc = a.poisoned(numBlocks * TPB * row), vc = a.poisoned(numBlocks * TPB * row);
    const views = { q: dqkv, qOffset: 0, qStride: W, k: dqkv, kOffset: NH * HD, kStride: W, v: dqkv, vOffset: (NH + NKV) * HD, vStride: W };
    ops.ropeWriteKv(c.ks, c.stream, views, a.upload(positions), a.upload(slots), a.upload(inv), qOut, NH * HD, kc, vc, N, scales);
    const meta = { blockTables: a.upload(tables), maxBlocksPerSeq: maxBlocks, contextLens: a.upload(Int32Array.from(specs, (s) => s.ctx)), numSeqs: specs.length };
    const qStarts = Int32Array.from(specs, (s, i) => seqStart[i]! + s.ctx - s.numQ);
    const maxCtx = Math.max(...specs.map((s) => s.ctx));
    if (mode === 'decode') {
      const f = ops.decodeScratchFloats(specs.length, NH, HD, maxCtx);
      const scratch = { out: a.alloc(f.out * 4), max: a.alloc(f.stats * 4), sum: a.alloc(f.stats * 4) };
      ops.attentionDecode(c.ks, c.stream, qOut, NH * HD, a.upload(qStarts), kc, vc, meta, maxCtx, 1 / Math.sqrt(HD), scratch, out, NH * HD, scales);
    } else {
      ops.attentionPrefill(c.ks, c.stream, qOut, NH * HD, out, NH * HD, kc, vc, meta, a.upload(qStarts), a.upload(Int32Array.from(specs, (s) => s.numQ)),
        Math.max(...specs.map((s) => s.numQ)), 1 / Math.sqrt(HD), scales);
    }
    // CPU: rotate q and k in f32 from the same activations, cache the prefix (fp8, same scales), attend.
    const cols = (off: number, width: number): Float32Array => {
      const o = new Float32Array(N * width);
      for (let t = 0; t < N; t++) o.set(qkv.values.subarray(t * W + off, t * W + off + width), t * width);
      return o;
    };
    const table = new RopeTable(HD, THETA, LLAMA3_SCALING);
    const qRot = new Float32Array(N * NH * HD), kRot = new Float32Array(N * row), vAll = cols((NH + NKV) * HD, row);
    table.apply(cols(0, NH * HD), positions, qRot, NH);
    table.apply(cols(NH * HD, row), positions, kRot, NKV);
    const cache = new CpuKvCache({ numLayers: 1, numKvHeads: NKV, headDim: HD, numBlocks, tokensPerBlock: TPB, dtype: 'fp8e4m3' });
    cache.setLayerScales(0, scales.k, scales.v);
    const isQuery = new Uint8Array(N);
    specs.forEach((s, i) => { for (let j = 0; j < s.numQ; j++) isQuery[qStarts[i]! + j] = 1; });
    const pick = (src: Float32Array, width: number, want: number): Float32Array => {
      const idx = [...isQuery.keys()].filter((t) => isQuery[t] === want);
      const o = new Float32Array(idx.length * width);
      idx.forEach((t, j) => o.set(src.subarray(t * width, (t + 1) * width), j * width));
      return o;
    };
    const prefixSlots = Int32Array.from([...isQuery.keys()].filter((t) => isQuery[t] === 0), (t) => slots[t]!);
    cache.write(0, pick(kRot, row, 0), pick(vAll, row, 0), prefixSlots);
    let qAt = 0;
    const seqs: SeqAttention[] = specs.map((s, i) => {
      const r = { queryStart: qAt, numQueryTokens: s.numQ, contextLen: s.ctx, blockTable: tables.slice(i * maxBlocks, i * maxBlocks + blocksPer[i]!) };
      qAt += s.numQ;
      return r;
    });
    const querySlots = Int32Array.from([...isQuery.keys()].filter((t) => isQuery[t] === 1), (t) => slots[t]!);
    const ref = new Float32Array(qAt * NH * HD);
    pagedAttention(cache, { seqs, slotMapping: querySlots }, { numHeads: NH, numKvHeads: NKV, headDim: HD, layer: 0, scale: 1 / Math.sqrt(HD) },
      pick(qRot, NH * HD, 1), pick(kRot, row, 1), pick(vAll, row, 1), ref);
    const got = pick(a.act(out, N * NH * HD, dt), NH * HD, 1);
    const err = relError(got, ref);
    // The cache codes themselves: GPU vs the CPU's rounding of the same (rotated) values.
    const kCodes = new Uint8Array(numBlocks * TPB * row), vCodes = new Uint8Array(numBlocks * TPB * row);
    kc.download(kCodes, c.stream);
    vc.download(vCodes, c.stream);
    let kDiff = 0, vDiff = 0, unwritten = 0;
    for (let t = 0; t < N; t++) {
      for (let j = 0; j < row; j++) {
        const o = slots[t]! * row + j;
        if (kCodes[o] === 0xff || vCodes[o] === 0xff) unwritten++;
        if (kCodes[o] !== f32ToFp8e4m3Bits(Math.fround(kRot[t * row + j]! / scales.k))) kDiff++;
        if (vCodes[o] !== f32ToFp8e4m3Bits(Math.fround(vAll[t * row + j]! / scales.v))) vDiff++;
      }
    }
    const total = N * row;
    // V codes come from identical values (x / scale rounded once): any difference is a rounding bug.
    // K codes follow f32 RoPE angles (the CPU's are f64), so a few land on the other side of a rounding boundary.
    const pass = err < FP8_KV_TOL && unwritten === 0 && vDiff <= total * 1e-4 && kDiff <= total * 0.05;
    const shape = specs.map((s) => `${s.numQ}/${s.ctx}`).join(', ');
    return { name: `fp8 KV ${dt} rope_write_kv → attention_${mode} (${shape})`, pass, error: err, tolerance: FP8_KV_TOL,
      note: `vs CPU fp8 KV attention (scales k ${scales.k.toPrecision(3)}, v ${scales.v.toPrecision(3)}); cache codes differing from the CPU's: K ${kDiff}/${total}, V ${vDiff}/${total}; unwritten ${unwritten}` };
  } finally { a.dispose(); }
}

const tagged = (tag: string, r: CheckResult): CheckResult => ({ ...r, name: `[${tag}] ${r.name}` });

/** Compiles the dtype variants of `shapes`, runs every check through `attempt`, and frees them. */
export function runDtypeChecks(base: Ctx, lt: CublasLtHandle, shapes: KernelShapes, attempt: Attempt): CheckResult[] {
  const results: CheckResult[] = [];
  const variant = (s: KernelShapes, fn: (c: Ctx) => void): void => {
    let ks: KernelSet | undefined;
    try {
      ks = KernelSet.load(base.device, s, compileKernels(s, base.device.info.arch, process.env.KILN_KERNEL_DIR));
    } catch (e) {
      const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      console.log(`FAIL compiling kernels ${JSON.stringify({ actDtype: s.actDtype, kvDtype: s.kvDtype })}: ${msg}`);
      results.push({ name: `compile ${s.actDtype ?? 'bfloat16'} / ${s.kvDtype ?? 'act'} KV kernels`, pass: false, note: msg.slice(0, 2000) });
      return;
    }
    try { fn({ ...base, ks }); } finally { ks.dispose(); }
  };
  variant({ ...shapes, actDtype: 'float16' }, (c) => {
    results.push(
      attempt('f16 embedding', () => tagged('f16', checkEmbedding(c))),
      attempt('f16 rmsnorm', () => tagged('f16', checkRmsnorm(c, false))),
      attempt('f16 add_rmsnorm', () => tagged('f16', checkRmsnorm(c, true))),
      attempt('f16 silu_mul', () => tagged('f16', checkSiluMul(c))),
      attempt('f16 rope default', () => tagged('f16', checkRopeKv(c, { type: 'default' }))),
      attempt('f16 rope llama3', () => tagged('f16', checkRopeKv(c, LLAMA3_SCALING))),
      attempt('f16 attention_decode', () => tagged('f16', checkDecode(c))),
      attempt('f16 attention_prefill', () => tagged('f16', checkPrefill(c))),
      ...(['none', 'bias', 'gelu_bias', 'relu_bias'] as const).map((e) => attempt(`f16 gemm ${e}`, () => checkGemmEpilogue(c, lt, e, 'float16'))),
    );
  });
  const decodeSpecs = [1, 255, 256, 257, 600, 1000, 3000, 77].map((ctx) => ({ numQ: 1, ctx }));
  const prefillSpecs = [{ numQ: 300, ctx: 300 }, { numQ: 77, ctx: 277 }, { numQ: 1, ctx: 51 }, { numQ: 70, ctx: 700 }];
  for (const actDtype of ['bfloat16', 'float16'] as const) {
    const tag = `fp8 KV ${actDtype === 'float16' ? 'f16' : 'bf16'}`;
    variant({ ...shapes, actDtype, kvDtype: 'fp8e4m3' }, (c) => {
      results.push(
        attempt(`${tag} pipeline decode`, () => checkFp8KvPipeline(c, 'decode', decodeSpecs)),
        attempt(`${tag} pipeline prefill`, () => checkFp8KvPipeline(c, 'prefill', prefillSpecs)),
        attempt(`${tag} attention_decode`, () => tagged(tag, checkDecode(c))),
        attempt(`${tag} attention_prefill`, () => tagged(tag, checkPrefill(c))),
      );
      if (actDtype === 'bfloat16') results.push(attempt(`${tag} attention_decode timing`, () => tagged(tag, timeDecode(c, 64, 4096))));
    });
  }
  return results;
}
