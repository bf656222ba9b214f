/**
 * Typed launchers for the Kiln kernels: one function per op, device buffers in, work enqueued on a
 * stream. Sizes are in elements; activations are the kernels' act dtype (bf16 or fp16, 2 bytes)
 * unless stated, the KV caches hold the KV dtype (fp8 caches take per-layer `KvScales`).
 */
import { arg, type DeviceBuffer, type DevicePtr, type Stream } from './device.js';
import { DECODE_PARTITION, DECODE_THREADS, definesFor, prefillSmemBytes, PREFILL_BLOCK_M } from './kernels/index.js';
import type { KernelSet } from './kernel-set.js';

/** A device buffer, or a raw address inside one (an arena slot, a column view). */
type Buf = DeviceBuffer | DevicePtr;

/** out[T, H] = table[ids[T]]; ids int32. */
export function embedding(ks: KernelSet, s: Stream | null, ids: Buf, table: Buf, out: Buf, numTokens: number, vocab: number): void {
  ks.get('embedding').launch({ grid: [numTokens], block: [Math.min(256, ks.shapes.hiddenSize / 8)] }, s,
    [arg.ptr(ids), arg.ptr(table), arg.ptr(out), arg.i32(numTokens), arg.i32(vocab)]);
}

/** residual = x + residual (when given); out = RMSNorm(residual or x) · weight. */
export function addRmsnorm(ks: KernelSet, s: Stream | null, x: Buf, residual: Buf | null, weight: Buf, out: Buf, eps: number, numTokens: number): void {
  const threads = definesFor(ks.shapes).rmsnorm.THREADS!;
  ks.get('add_rmsnorm').launch({ grid: [numTokens], block: [threads] }, s,
    [arg.ptr(x), arg.ptr(residual ?? 0), arg.ptr(weight), arg.ptr(out), arg.f32(eps), arg.i32(numTokens)]);
}

/** out[T, I] = silu(gateUp[:, :I]) · gateUp[:, I:]. */
export function siluMul(ks: KernelSet, s: Stream | null, gateUp: Buf, out: Buf, numTokens: number): void {
  const inter = ks.shapes.intermediateSize;
  ks.get('silu_mul').launch({ grid: [Math.ceil(inter / 8 / 256), numTokens], block: [256] }, s,
    [arg.ptr(gateUp), arg.ptr(out), arg.i32(numTokens)]);
}

/** fp8 KV cache scales of one layer: stored = fp8(x / scale), read = fp8 · scale (ignored by 16-bit caches). */
export interface KvScales { readonly k: number; readonly v: number }
const UNIT_SCALES: KvScales = { k: 1, v: 1 };

/** Strided views (element offsets and row strides) of q, k, v inside one activation. */
export interface QkvViews {
  readonly q: Buf; readonly qOffset: number; readonly qStride: number;
  readonly k: Buf; readonly kOffset: number; readonly kStride: number;
  readonly v: Buf; readonly vOffset: number; readonly vStride: number;
}

/** RoPE on q (in place into qOut) and k, and k/v written into the paged caches at slotMapping. */
export function ropeWriteKv(ks: KernelSet, s: Stream | null, qkv: QkvViews, positions: Buf, slotMapping: Buf, invFreq: Buf,
  qOut: Buf, qOutStride: number, kCache: Buf, vCache: Buf, numTokens: number, scales: KvScales = UNIT_SCALES): void {
  ks.get('rope_write_kv').launch({ grid: [numTokens], block: [128] }, s, [
    arg.ptr(qkv.q, 2 * qkv.qOffset), arg.i32(qkv.qStride), arg.ptr(qkv.k, 2 * qkv.kOffset), arg.i32(qkv.kStride),
    arg.ptr(qkv.v, 2 * qkv.vOffset), arg.i32(qkv.vStride), arg.ptr(positions), arg.ptr(slotMapping), arg.ptr(invFreq),
    arg.ptr(qOut), arg.i32(qOutStride), arg.ptr(kCache), arg.ptr(vCache), arg.i32(numTokens),
    arg.f32(scales.k), arg.f32(scales.v)]);
}

/** Paged-attention metadata on the device (int32 arrays). */
export interface PagedMeta {
  readonly blockTables: Buf;
  readonly maxBlocksPerSeq: number;
  readonly contextLens: Buf;
  readonly numSeqs: number;
}

/** Split-KV scratch for decode: sized by `decodeScratchFloats`. */
export interface DecodeScratch { readonly out: Buf; readonly max: Buf; readonly sum: Buf }

export function decodeSplits(maxContext: number): number {
  return Math.max(1, Math.ceil(maxContext / DECODE_PARTITION));
}

/** Thread blocks the v2 decode kernel aims for (about two per SM of an H100), and its limits. */
const V2_TARGET_BLOCKS = 256;
const V2_MAX_SPLITS = 32;
/** Fewest tokens a v2 split takes (shorter contexts use fewer splits; the rest exit at once). */
export const V2_MIN_SPLIT_TOKENS = 32;

/** Splits per sequence for the v2 decode kernel: enough blocks to fill the GPU at small batches, 1 at large ones. */
export function decodeSplitsV2(numSeqs: number, numKvHeads: number): number {
  return Math.min(V2_MAX_SPLITS, Math.max(1, Math.ceil(V2_TARGET_BLOCKS / (Math.max(1, numSeqs) * numKvHeads))));
}

/** The decode attention kernels: v1 (two passes), v2 (one pass, adaptive splits), v3 (bandwidth-first), v3tc (v3 with tensor-core products). */
export type DecodeKernelName = 'v1' | 'v2' | 'v3' | 'v3tc';

/** The model shapes the decode dispatch looks at (a KernelShapes fits; kvDtype undefined = the 16-bit activation dtype). */
export interface DecodeShapes { readonly numHeads: number; readonly numKvHeads: number; readonly headDim: number; readonly kvDtype?: string | undefined }

/** Whether attention_decode_v3_tc runs for these shapes: head_dim 64 or 128, at most 8 query heads per KV head, a 16-bit KV cache. */
export function decodeV3TensorCores(shapes: DecodeShapes): boolean {
  return (shapes.headDim === 64 || shapes.headDim === 128) && shapes.numHeads / shapes.numKvHeads <= 8 && shapes.kvDtype !== 'fp8e4m3';
}

/** Largest numSeqs × numKvHeads that runs v2 rather than v3 where v3tc cannot run (see decodeKernel). */
export const V2_MAX_BLOCKS_WITHOUT_SPLITS = 64;

/**
 * Which decode kernel runs. H100 80GB HBM3, 2026-11-25 03:13 UTC (GQA 32/8, head_dim 128, bf16 KV;
 * ms, v1 / v2 / v3 / v3tc): 64 seqs × 4096 ctx 0.6148 / 0.9141 / 0.4087 / 0.3795 (v3tc 94% of the
 * 3005 GB/s copy rate); 8 × 32768 0.6500 / 0.8817 / 0.4136 / 0.3852; 256 × 192 0.1537 / 0.1658 /
 * 0.0849 / 0.0764; 1 × 128 0.0484 / 0.0739 / 0.0262 / 0.0250; 1 × 2048 0.0394 / 0.0505 / 0.2935 /
 * 0.0333. fp8 KV (bf16 activations) 64 × 4096: v1 0.6811, v3 0.2746. So v3tc runs wherever
 * decodeV3TensorCores allows (16-bit KV cache, head_dim 64/128, GQA group ≤ 8); otherwise (fp8 KV,
 * other head dims, larger groups) v3 once numSeqs × numKvHeads > V2_MAX_BLOCKS_WITHOUT_SPLITS, and v2
 * below that (v3 was slow at 1 × 2048). KILN_DECODE_KERNEL=v1|v2|v3|v3tc forces one (v3tc: v3 on
 * tensor cores where decodeV3TensorCores allows, else v3).
 */
export function decodeKernel(numSeqs: number, shapes: DecodeShapes): DecodeKernelName {
  const forced = process.env['KILN_DECODE_KERNEL'];
  if (forced === 'v1' || forced === 'v2' || forced === 'v3' || forced === 'v3tc') return forced;
  if (decodeV3TensorCores(shapes)) return 'v3tc';
  return numSeqs * shapes.numKvHeads > V2_MAX_BLOCKS_WITHOUT_SPLITS ? 'v3' : 'v2';
}

/** Thread blocks the v3 decode kernel aims for (about four waves of four 128-thread blocks per SM of an H100), and its limits. */
export const V3_TARGET_BLOCKS = 2048;
export const V3_MAX_SPLITS = 64;
/** Fewest tokens a v3 split takes: a sequence (or a whole graph bucket) this short runs in one block per KV head, without the combine pass. */
export const V3_MIN_SPLIT_TOKENS = 128;

/**
 * Splits per sequence for the v3 decode kernel: enough blocks (numSeqs · numKvHeads · splits) to
 * fill the GPU several times over, no more than maxContext / V3_MIN_SPLIT_TOKENS, and 1 (no combine
 * pass, the kernel writes the output) once the batch alone gives V3_TARGET_BLOCKS blocks. Depends
 * only on numSeqs and maxContext, as CUDA-graph capture needs.
 */
export function decodeSplitsV3(numSeqs: number, numKvHeads: number, maxContext: number): number {
  const byBlocks = Math.ceil(V3_TARGET_BLOCKS / (Math.max(1, numSeqs) * Math.max(1, numKvHeads)));
  const byContext = Math.ceil(Math.max(1, maxContext) / V3_MIN_SPLIT_TOKENS);
  return Math.max(1, Math.min(V3_MAX_SPLITS, byBlocks, byContext));
}

/** Floats needed for decode's partial outputs and for its max/sum arrays (enough for any of the kernels). */
export function decodeScratchFloats(numSeqs: number, numHeads: number, headDim: number, maxContext: number): { out: number; stats: number } {
  // v2 and v3: numSeqs · splits ≤ numSeqs + target blocks for any batch (splits ≤ ceil(target / (n · kvHeads)) ≤ target / n + 1).
  const rows = Math.max(numSeqs * decodeSplits(maxContext), numSeqs + Math.max(V2_TARGET_BLOCKS, V3_TARGET_BLOCKS));
  return { out: rows * numHeads * headDim, stats: rows * numHeads };
}

/** One query row per sequence (qRows[seq]); writes out rows qRows[seq]. */
export function attentionDecode(ks: KernelSet, s: Stream | null, q: Buf, qStride: number, qRows: Buf, kCache: Buf, vCache: Buf,
  meta: PagedMeta, maxContext: number, scale: number, scratch: DecodeScratch, out: Buf, outStride: number, scales: KvScales = UNIT_SCALES): void {
  const { numHeads, numKvHeads, headDim } = ks.shapes;
  const kernel = decodeKernel(meta.numSeqs, ks.shapes);
  if (kernel === 'v3' || kernel === 'v3tc') {
    const splits = decodeSplitsV3(meta.numSeqs, numKvHeads, maxContext);
    return attentionDecodeV3(ks, s, q, qStride, qRows, kCache, vCache, meta, maxContext, scale, scratch, out, outStride, scales, splits, kernel === 'v3tc');
  }
  const v2 = kernel === 'v2';
  const splits = v2 ? decodeSplitsV2(meta.numSeqs, numKvHeads) : decodeSplits(maxContext);
  const common = [arg.ptr(q), arg.i32(qStride), arg.ptr(qRows), arg.ptr(kCache), arg.ptr(vCache), arg.ptr(meta.blockTables),
    arg.i32(meta.maxBlocksPerSeq), arg.ptr(meta.contextLens), arg.f32(scale), arg.ptr(scratch.out), arg.ptr(scratch.max),
    arg.ptr(scratch.sum), arg.i32(splits)];
  ks.get(v2 ? 'attention_decode_v2' : 'attention_decode').launch({ grid: [splits, numKvHeads, meta.numSeqs], block: [DECODE_THREADS] }, s,
    [...common, ...(v2 ? [arg.i32(V2_MIN_SPLIT_TOKENS)] : []), arg.f32(scales.k), arg.f32(scales.v)]);
  ks.get('attention_decode_combine').launch({ grid: [numHeads, meta.numSeqs], block: [headDim] }, s, [
    arg.ptr(scratch.out), arg.ptr(scratch.max), arg.ptr(scratch.sum), arg.ptr(qRows), arg.ptr(out), arg.i32(outStride), arg.i32(splits)]);
}

/**
 * The v3 decode kernel; with one split it writes `out` itself, otherwise attention_decode_combine
 * merges the splits. `splits` overrides decodeSplitsV3 (device checks; 1..V3_MAX_SPLITS, and the
 * scratch must hold numSeqs · splits rows). `tensorCores` runs attention_decode_v3_tc where
 * decodeV3TensorCores allows (same grid and outputs).
 */
export function attentionDecodeV3(ks: KernelSet, s: Stream | null, q: Buf, qStride: number, qRows: Buf, kCache: Buf, vCache: Buf,
  meta: PagedMeta, maxContext: number, scale: number, scratch: DecodeScratch, out: Buf, outStride: number, scales: KvScales = UNIT_SCALES,
  splits = decodeSplitsV3(meta.numSeqs, ks.shapes.numKvHeads, maxContext), tensorCores = false): void {
  const { numHeads, numKvHeads, headDim } = ks.shapes;
  if (!Number.isInteger(splits) || splits < 1 || splits > V3_MAX_SPLITS) throw new RangeError(`v3 decode splits ${splits} outside 1..${V3_MAX_SPLITS}`);
  const entry = tensorCores && decodeV3TensorCores(ks.shapes) ? 'attention_decode_v3_tc' : 'attention_decode_v3';
  ks.get(entry).launch({ grid: [splits, numKvHeads, meta.numSeqs], block: [DECODE_THREADS] }, s, [
    arg.ptr(q), arg.i32(qStride), arg.ptr(qRows), arg.ptr(kCache), arg.ptr(vCache), arg.ptr(meta.blockTables),
    arg.i32(meta.maxBlocksPerSeq), arg.ptr(meta.contextLens), arg.f32(scale), arg.ptr(scratch.out), arg.ptr(scratch.max),
    arg.ptr(scratch.sum), arg.i32(splits), arg.i32(V3_MIN_SPLIT_TOKENS), arg.f32(scales.k), arg.f32(scales.v), arg.ptr(out), arg.i32(outStride)]);
  if (splits === 1) return;
  ks.get('attention_decode_combine').launch({ grid: [numHeads, meta.numSeqs], block: [headDim] }, s, [
    arg.ptr(scratch.out), arg.ptr(scratch.max), arg.ptr(scratch.sum), arg.ptr(qRows), arg.ptr(out), arg.i32(outStride), arg.i32(splits)]);
}

/** Causal prefill / chunked prefill: queryStarts/queryLens int32 per sequence. */
export function attentionPrefill(ks: KernelSet, s: Stream | null, q: Buf, qStride: number, out: Buf, outStride: number,
  kCache: Buf, vCache: Buf, meta: PagedMeta, queryStarts: Buf, queryLens: Buf, maxQueryLen: number, scale: number, scales: KvScales = UNIT_SCALES): void {
  const { numHeads, headDim } = ks.shapes;
  ks.get('attention_prefill').launch(
    { grid: [Math.ceil(maxQueryLen / PREFILL_BLOCK_M), numHeads, meta.numSeqs], block: [128], smem: prefillSmemBytes(headDim) }, s, [
      arg.ptr(q), arg.i32(qStride), arg.ptr(out), arg.i32(outStride), arg.ptr(kCache), arg.ptr(vCache), arg.ptr(meta.blockTables),
      arg.i32(meta.maxBlocksPerSeq), arg.ptr(queryStarts), arg.ptr(queryLens), arg.ptr(meta.contextLens), arg.f32(scale),
      arg.f32(scales.k), arg.f32(scales.v)]);
}

/** Greedy ids of float32 logits [rows, vocab] into out (int32). */
export function argmaxRows(ks: KernelSet, s: Stream | null, logits: Buf, vocab: number, rows: number, out: Buf): void {
  ks.get('argmax_rows').launch({ grid: [rows], block: [1024] }, s, [arg.ptr(logits), arg.i32(vocab), arg.ptr(out)]);
}

/** Temperature/top-k/top-p/min-p sampling; per-row params (f32, i32, f32, f32, f32 uniforms in [0, 1)). */
export function sampleRows(ks: KernelSet, s: Stream | null, logits: Buf, vocab: number, rows: number,
  p: { temperature: Buf; topK: Buf; topP: Buf; minP: Buf; uniforms: Buf }, out: Buf): void {
  ks.get('sample_rows').launch({ grid: [rows], block: [1024] }, s, [
    arg.ptr(logits), arg.i32(vocab), arg.ptr(p.temperature), arg.ptr(p.topK), arg.ptr(p.topP), arg.ptr(p.minP), arg.ptr(p.uniforms), arg.ptr(out)]);
}
