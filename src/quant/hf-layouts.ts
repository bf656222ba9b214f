/**
 * Published layouts of pre-quantized Hugging Face checkpoints, unpacked into Kiln's
 * representation (quant/types.ts). All int4 tensors are int32 words of eight 4-bit fields,
 * field i in bits 4i … 4i+3.
 *
 * AWQ (AutoAWQ "gemm", quant_method "awq"): qweight int32 [K, N/8], qzeros int32 [K/G, N/8],
 *   scales f16 [K/G, N]. Both pack along the output dim in AWQ's interleaved order: field i of
 *   word j holds column 8j + AWQ_ORDER[i], AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7].
 *   w[n, k] = (q − z) · s, zero points as stored.
 * GPTQ (AutoGPTQ / exllama, quant_method "gptq"): qweight int32 [K/8, N] packed along K
 *   sequentially (field i of word r is row 8r + i); qzeros int32 [K/G, N/8] packed along N
 *   sequentially; scales f16 [K/G, N]; g_idx int32 [K] (input channel → group). Checkpoints with
 *   checkpoint_format "gptq" (the original format) store zero − 1, so the zero is stored + 1
 *   (a symmetric 4-bit layer stores 7 for zero 8); "gptq_v2" stores the zero itself.
 *   Only g_idx[k] = floor(k / G) is readable (act-order with a permuted g_idx is refused).
 * FP8 (ModelOpt quant_algo FP8, compressed-tensors float-quantized): weight F8_E4M3 [N, K],
 *   weight_scale f32 [] / [1] (per tensor) or [N] / [N, 1] (per channel), input_scale f32 [] /
 *   [1] (static; absent → dynamic per token). Block-wise scales are refused.
 */
import type { HostTensor } from '../backends/types.js';
import { CheckpointError } from '../errors/index.js';
import { toFloat32 } from '../graph/dtype.js';
import { packNibbles } from './numerics.js';

export const AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7] as const;

const field = (word: number, i: number): number => (word >>> (4 * i)) & 0xf;

function expectShape(name: string, t: HostTensor, shape: readonly number[], what: string): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new CheckpointError(`Tensor '${name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}] (${what}); Kiln cannot read this layout.`);
  }
}

function expectInt32(name: string, t: HostTensor): Int32Array {
  if (t.dtype !== 'int32' || !(t.data instanceof Int32Array)) throw new CheckpointError(`Tensor '${name}' is ${t.dtype}; packed 4-bit tensors must be int32.`);
  return t.data;
}

/** Kiln int4 tensors of one Linear [N, K]. */
export interface KilnInt4 {
  readonly qweight: Uint8Array;
  readonly scales: Float32Array;
  readonly zeros: Uint8Array;
  readonly numGroups: number;
}

/** Unsigned codes [N, K] → Kiln tensors, with zeros [N, G] and scales [N, G] transposed from [G, N]. */
function toKiln(codes: Uint8Array, zerosGN: Uint8Array, scalesGN: Float32Array, n: number, k: number, g: number): KilnInt4 {
  const scales = new Float32Array(n * g), zeros = new Uint8Array(n * g);
  for (let gi = 0; gi < g; gi++) {
    for (let c = 0; c < n; c++) {
      scales[c * g + gi] = scalesGN[gi * n + c]!;
      zeros[c * g + gi] = zerosGN[gi * n + c]!;
    }
  }
  return { qweight: packNibbles(codes, n, k), scales, zeros, numGroups: g };
}

/** AWQ gemm tensors of Linear `base` [N, K] → Kiln int4. */
export function unpackAwq(base: string, qweight: HostTensor, qzeros: HostTensor, scales: HostTensor, n: number, k: number): KilnInt4 {
  const qn = `${base}.qweight`, zn = `${base}.qzeros`, sn = `${base}.scales`;
  if (n % 8 !== 0) throw new CheckpointError(`Tensor '${qn}': AWQ packs 8 output columns per int32, but the layer has ${n}.`);
  expectShape(qn, qweight, [k, n / 8], 'AWQ gemm qweight [in, out/8]');
  const g = scales.shape[0]!;
  expectShape(sn, scales, [g, n], 'AWQ scales [in/group, out]');
  expectShape(zn, qzeros, [g, n / 8], 'AWQ qzeros [in/group, out/8]');
  if (k % g !== 0) throw new CheckpointError(`Tensor '${sn}': ${g} groups do not divide K = ${k}.`);
  const qw = expectInt32(qn, qweight), qz = expectInt32(zn, qzeros);
  const codes = new Uint8Array(n * k);
  for (let r = 0; r < k; r++) {
    for (let j = 0; j < n / 8; j++) {
      const word = qw[r * (n / 8) + j]!;
      for (let i = 0; i < 8; i++) codes[(8 * j + AWQ_ORDER[i]!) * k + r] = field(word, i);
    }
  }
  const zeros = new Uint8Array(g * n);
  for (let gi = 0; gi < g; gi++) {
    for (let j = 0; j < n / 8; j++) for (let i = 0; i < 8; i++) zeros[gi * n + 8 * j + AWQ_ORDER[i]!] = field(qz[gi * (n / 8) + j]!, i);
  }
  return toKiln(codes, zeros, toFloat32(scales.dtype, scales.data), n, k, g);
}

export interface GptqTensors {
  readonly qweight: HostTensor;
  readonly qzeros: HostTensor;
  readonly scales: HostTensor;
  readonly gIdx?: HostTensor;
}

/** GPTQ tensors of Linear `base` [N, K] → Kiln int4; `zeroOffset` 1 for checkpoint_format "gptq". */
export function unpackGptq(base: string, t: GptqTensors, n: number, k: number, zeroOffset: 0 | 1): KilnInt4 {
  const qn = `${base}.qweight`;
  if (k % 8 !== 0) throw new CheckpointError(`Tensor '${qn}': GPTQ packs 8 input rows per int32, but K = ${k}.`);
  if (t.qweight.shape[0] !== k / 8) {
    throw new CheckpointError(`Tensor '${qn}' has shape [${t.qweight.shape.join(', ')}]; 4-bit GPTQ is [${k / 8}, ${n}] (other bit widths, e.g. 3-bit [${(3 * k) / 32}, ${n}], are not supported).`);
  }
  expectShape(qn, t.qweight, [k / 8, n], 'GPTQ qweight [in/8, out]');
  const g = t.scales.shape[0]!;
  expectShape(`${base}.scales`, t.scales, [g, n], 'GPTQ scales [groups, out]');
  expectShape(`${base}.qzeros`, t.qzeros, [g, n / 8], 'GPTQ qzeros [groups, out/8]');
  if (k % g !== 0) throw new CheckpointError(`Tensor '${base}.scales': ${g} groups do not divide K = ${k}.`);
  if (t.gIdx) checkTrivialGIdx(`${base}.g_idx`, t.gIdx, k, k / g);
  const qw = expectInt32(qn, t.qweight), qz = expectInt32(`${base}.qzeros`, t.qzeros);
  const codes = new Uint8Array(n * k);
  for (let r = 0; r < k / 8; r++) {
    for (let c = 0; c < n; c++) {
      const word = qw[r * n + c]!;
      for (let i = 0; i < 8; i++) codes[c * k + 8 * r + i] = field(word, i);
    }
  }
  const zeros = new Uint8Array(g * n);
  for (let gi = 0; gi < g; gi++) {
    for (let j = 0; j < n / 8; j++) for (let i = 0; i < 8; i++) zeros[gi * n + 8 * j + i] = (field(qz[gi * (n / 8) + j]!, i) + zeroOffset) & 0xff;
  }
  return toKiln(codes, zeros, toFloat32(t.scales.dtype, t.scales.data), n, k, g);
}

function checkTrivialGIdx(name: string, gIdx: HostTensor, k: number, groupSize: number): void {
  if (gIdx.data.length !== k) throw new CheckpointError(`Tensor '${name}' has ${gIdx.data.length} entries, expected K = ${k}.`);
  for (let i = 0; i < k; i++) {
    if (gIdx.data[i] !== Math.floor(i / groupSize)) {
      throw new CheckpointError(`Tensor '${name}' permutes input channels (act-order / desc_act: g_idx[${i}] = ${gIdx.data[i]}, expected ${Math.floor(i / groupSize)}); Kiln reads GPTQ without act-order only. Re-quantize with desc_act=False, or use kiln build --quant int4_wo on the float model.`);
    }
  }
}

/** FP8 weight scale → [1] or [N] float32; throws naming the tensor for block-wise scales. */
export function fp8WeightScale(name: string, t: HostTensor, n: number): Float32Array {
  const s = toFloat32(t.dtype, t.data);
  const perChannel = s.length === n && (t.shape.length === 1 || (t.shape.length === 2 && t.shape[1] === 1));
  if (s.length === 1 || perChannel) return s;
  throw new CheckpointError(`Tensor '${name}' has shape [${t.shape.join(', ')}]; Kiln reads per-tensor ([] or [1]) or per-channel ([${n}] or [${n}, 1]) FP8 weight scales, not block-wise ones.`);
}
