/** GPU checks of paged attention (decode and prefill) against the CPU backend's pagedAttention. */
import type { DeviceBuffer } from '../../src/backends/cuda/device.js';
import * as ops from '../../src/backends/cuda/ops.js';
import { pagedAttention } from '../../src/backends/cpu/kernels/attention.js';
import { CpuKvCache } from '../../src/backends/cpu/kv-cache.js';
import type { SeqAttention } from '../../src/backends/types.js';
import { f32ToFp8e4m3Bits, fp8e4m3BitsToF32 } from '../../src/graph/dtype.js';
import { kvElementBytes } from '../../src/backends/cuda/kernels/index.js';
import { Arena, actTol, gbps, relError, toAct, type CheckResult } from './harness.js';
import { actOf, type Ctx } from './check-kernels.js';

/**
 * fp8 KV cache kernel sets: the per-layer scales the checks use (float32 values, as the quantize pass
 * stores them, so x / scale rounds the same on both sides), and the tolerance (vs the CPU on the same
 * dequantized values).
 */
export const FP8_KV_SCALES: ops.KvScales = { k: Math.fround(1 / 96), v: Math.fround(1 / 160) };
export const FP8_KV_TOL = 1e-2;
const isFp8 = (c: Ctx): boolean => c.ks.shapes.kvDtype === 'fp8e4m3';
export const attnTol = (c: Ctx): number => (isFp8(c) ? FP8_KV_TOL : actTol(actOf(c)));

/** Values quantized as an fp8 cache stores them: codes of fround(x / scale), exact values code · scale (what the CPU cache holds). */
export function toFp8(x: Float32Array, scale: number): { bits: Uint8Array; values: Float32Array } {
  const bits = new Uint8Array(x.length), values = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    bits[i] = f32ToFp8e4m3Bits(Math.fround(x[i]! / scale));
    values[i] = fp8e4m3BitsToF32(bits[i]!) * scale;
  }
  return { bits, values };
}

/** The cache contents of this kernel set's KV dtype. */
function toKv(c: Ctx, x: Float32Array, which: 'k' | 'v'): { bits: Uint8Array | Uint16Array; values: Float32Array } {
  return isFp8(c) ? toFp8(x, FP8_KV_SCALES[which]) : toAct(x, actOf(c));
}

export interface SeqSpec { readonly numQ: number; readonly ctx: number }

/** A random paged cache and queries for `specs`, uploaded, plus the CPU reference output. */
export function scenario(c: Ctx, a: Arena, specs: readonly SeqSpec[], withRef: boolean) {
  const { numHeads: NH, numKvHeads: NKV, headDim: HD, tokensPerBlock: TPB } = c.ks.shapes;
  const blocksPer = specs.map((s) => Math.ceil(s.ctx / TPB));
  const numBlocks = blocksPer.reduce((x, y) => x + y, 0) + 4;
  const maxBlocks = Math.max(...blocksPer);
  const perm = c.rng.permutation(numBlocks);
  const tables = new Int32Array(specs.length * maxBlocks);
  let next = 0;
  specs.forEach((_, i) => { for (let b = 0; b < blocksPer[i]!; b++) tables[i * maxBlocks + b] = perm[next++]!; });
  const row = NKV * HD, cacheElems = numBlocks * TPB * row;
  const k = toKv(c, c.rng.floats(cacheElems), 'k'), v = toKv(c, c.rng.floats(cacheElems), 'v');
  const T = specs.reduce((x, s) => x + s.numQ, 0);
  const q = toAct(c.rng.floats(T * NH * HD, -2, 2), actOf(c));
  const starts = new Int32Array(specs.length);
  specs.forEach((_, i) => { if (i > 0) starts[i] = starts[i - 1]! + specs[i - 1]!.numQ; });
  const dev = {
    q: a.upload(q.bits), k: a.upload(k.bits), v: a.upload(v.bits),
    meta: { blockTables: a.upload(tables), maxBlocksPerSeq: maxBlocks, contextLens: a.upload(Int32Array.from(specs, (s) => s.ctx)), numSeqs: specs.length },
    starts: a.upload(starts), lens: a.upload(Int32Array.from(specs, (s) => s.numQ)),
  };
  let ref: Float32Array | undefined;
  if (withRef) {
    const cache = new CpuKvCache({ numLayers: 1, numKvHeads: NKV, headDim: HD, numBlocks, tokensPerBlock: TPB, dtype: 'float32' });
    cache.keys[0]!.set(k.values);
    cache.values[0]!.set(v.values);
    const slotMapping = new Int32Array(T);
    const seqs: SeqAttention[] = specs.map((s, i) => {
      const blockTable = tables.slice(i * maxBlocks, i * maxBlocks + blocksPer[i]!);
      for (let j = 0; j < s.numQ; j++) {
        const pos = s.ctx - s.numQ + j;
        slotMapping[starts[i]! + j] = blockTable[Math.floor(pos / TPB)]! * TPB + (pos % TPB);
      }
      return { queryStart: starts[i]!, numQueryTokens: s.numQ, contextLen: s.ctx, blockTable };
    });
    const kRows = new Float32Array(T * row), vRows = new Float32Array(T * row);
    slotMapping.forEach((slot, t) => { kRows.set(k.values.subarray(slot * row, (slot + 1) * row), t * row); vRows.set(v.values.subarray(slot * row, (slot + 1) * row), t * row); });
    ref = new Float32Array(T * NH * HD);
    pagedAttention(cache, { seqs, slotMapping }, { numHeads: NH, numKvHeads: NKV, headDim: HD, layer: 0, scale: 1 / Math.sqrt(HD) }, q.values, kRows, vRows, ref);
  }
  return { dev, ref, T, scales: isFp8(c) ? FP8_KV_SCALES : undefined, maxCtx: Math.max(...specs.map((s) => s.ctx)), maxQ: Math.max(...specs.map((s) => s.numQ)) };
}

export function decodeScratch(a: Arena, c: Ctx, numSeqs: number, maxCtx: number): ops.DecodeScratch {
  const f = ops.decodeScratchFloats(numSeqs, c.ks.shapes.numHeads, c.ks.shapes.headDim, maxCtx);
  return { out: a.alloc(f.out * 4), max: a.alloc(f.stats * 4), sum: a.alloc(f.stats * 4) };
}

/** Decode: 16 sequences, contexts across the split boundaries (1, 256, 257, 512, ... up to 3000). */
export function checkDecode(c: Ctx): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const { numHeads: NH, headDim: HD } = c.ks.shapes;
    const fixed = [1, 255, 256, 257, 512, 3000];
    const specs = Array.from({ length: 16 }, (_, i) => ({ numQ: 1, ctx: fixed[i] ?? 1 + c.rng.int(3000) }));
    const s = scenario(c, a, specs, true);
    const qRows = a.upload(Int32Array.from(specs, (_, i) => i));
    const out = a.poisoned(s.T * NH * HD * 2);
    ops.attentionDecode(c.ks, c.stream, s.dev.q, NH * HD, qRows, s.dev.k, s.dev.v, s.dev.meta, s.maxCtx, 1 / Math.sqrt(HD), decodeScratch(a, c, specs.length, s.maxCtx), out, NH * HD, s.scales);
    const err = relError(a.act(out, s.T * NH * HD, actOf(c)), s.ref!);
    return { name: `attention_decode 16 seqs ctx 1..3000 GQA ${NH}/${c.ks.shapes.numKvHeads}`, pass: err < attnTol(c), error: err, tolerance: attnTol(c),
      ...(s.scales ? { note: `fp8 KV cache (scales k ${s.scales.k.toPrecision(3)}, v ${s.scales.v.toPrecision(3)}) vs the CPU on the same dequantized values` } : {}) };
  } finally { a.dispose(); }
}

/** Fills a large device buffer with random activations (bf16 or fp16) by replicating one random 16 MiB chunk (JS fills are slow). */
export function fillRandom(c: Ctx, a: Arena, dst: DeviceBuffer): void {
  const chunk = a.upload(toAct(c.rng.floats(8 << 20), actOf(c)).bits);
  for (let off = 0; off < dst.bytes; off += chunk.bytes) dst.copyFrom(chunk, Math.min(chunk.bytes, dst.bytes - off), c.stream, off);
}

/** Decode bandwidth: `numSeqs` sequences of `ctx` tokens; bytes = K and V of every context token, read once. */
export function timeDecode(c: Ctx, numSeqs: number, ctx: number): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const { numHeads: NH, numKvHeads: NKV, headDim: HD, tokensPerBlock: TPB } = c.ks.shapes;
    const maxBlocks = Math.ceil(ctx / TPB), numBlocks = numSeqs * maxBlocks;
    const eb = kvElementBytes(c.ks.shapes.kvDtype ?? actOf(c));
    const kc = a.alloc(numBlocks * TPB * NKV * HD * eb), vc = a.alloc(numBlocks * TPB * NKV * HD * eb);
    fillRandom(c, a, kc); fillRandom(c, a, vc);
    const meta = { blockTables: a.upload(c.rng.permutation(numBlocks)), maxBlocksPerSeq: maxBlocks, contextLens: a.upload(new Int32Array(numSeqs).fill(ctx)), numSeqs };
    const q = a.upload(toAct(c.rng.floats(numSeqs * NH * HD), actOf(c)).bits), qRows = a.upload(Int32Array.from({ length: numSeqs }, (_, i) => i));
    const out = a.alloc(numSeqs * NH * HD * 2), scratch = decodeScratch(a, c, numSeqs, ctx);
    const ms = a.time(() => ops.attentionDecode(c.ks, c.stream, q, NH * HD, qRows, kc, vc, meta, ctx, 1 / Math.sqrt(HD), scratch, out, NH * HD, FP8_KV_SCALES));
    const bytes = 2 * numSeqs * ctx * NKV * HD * eb;
    return { name: `attention_decode timing ${numSeqs} seqs x ${ctx} ctx`, pass: true, ms, gbps: gbps(bytes, ms), note: 'bytes = K+V of every context token' };
  } finally { a.dispose(); }
}

/** Prefill: a fresh prompt, a chunk over a cached prefix, a 1-token chunk, and a chunk deep into a long context. */
export function checkPrefill(c: Ctx): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const { numHeads: NH, headDim: HD } = c.ks.shapes;
    const specs = [{ numQ: 300, ctx: 300 }, { numQ: 77, ctx: 277 }, { numQ: 1, ctx: 51 }, { numQ: 70, ctx: 700 }];
    const s = scenario(c, a, specs, true);
    const out = a.poisoned(s.T * NH * HD * 2);
    ops.attentionPrefill(c.ks, c.stream, s.dev.q, NH * HD, out, NH * HD, s.dev.k, s.dev.v, s.dev.meta, s.dev.starts, s.dev.lens, s.maxQ, 1 / Math.sqrt(HD), s.scales);
    const err = relError(a.act(out, s.T * NH * HD, actOf(c)), s.ref!);
    return { name: `attention_prefill chunked (300/300, 77/277, 1/51, 70/700)`, pass: err < attnTol(c), error: err, tolerance: attnTol(c),
      note: `numQ/contextLen per sequence${s.scales ? '; fp8 KV cache vs the CPU on the same dequantized values' : ''}` };
  } finally { a.dispose(); }
}

/** Prefill throughput: `numSeqs` fresh prompts of `len` tokens; FLOPs counted causally (4·HD per visible key per head). */
export function timePrefill(c: Ctx, numSeqs: number, len: number): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const { numHeads: NH, headDim: HD } = c.ks.shapes;
    const s = scenario(c, a, Array.from({ length: numSeqs }, () => ({ numQ: len, ctx: len })), false);
    const out = a.alloc(s.T * NH * HD * 2);
    const ms = a.time(() => ops.attentionPrefill(c.ks, c.stream, s.dev.q, NH * HD, out, NH * HD, s.dev.k, s.dev.v, s.dev.meta, s.dev.starts, s.dev.lens, len, 1 / Math.sqrt(HD), FP8_KV_SCALES), 10);
    const flops = numSeqs * NH * 4 * HD * ((len * (len + 1)) / 2);
    return { name: `attention_prefill timing ${numSeqs} x ${len} tokens`, pass: true, ms, tflops: flops / (ms * 1e9) };
  } finally { a.dispose(); }
}
