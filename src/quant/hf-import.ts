/**
 * `kiln convert` of a pre-quantized Hugging Face checkpoint (config.json has
 * `quantization_config`): FP8 (ModelOpt, compressed-tensors) and INT4 AWQ/GPTQ Linear weights
 * are unpacked into Kiln's representation (quant/types.ts, layouts in hf-layouts.ts); every
 * other tensor is converted to the chosen float dtype as usual. The Kiln checkpoint records the
 * result in config.json `quant`, and `kiln build` uses the tensors as they are.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { HostTensor, TypedData } from '../backends/types.js';
import { assertReplaceable, writeDirAtomically } from '../checkpoint/atomic.js';
import type { ConvertOptions, ConvertResult } from '../checkpoint/convert.js';
import { isKilnCheckpointDir, KILN_CHECKPOINT_VERSION, TOKENIZER_FILES, WEIGHTS_FILE } from '../checkpoint/kiln-checkpoint.js';
import { openCheckpoint, type SafetensorsCheckpoint } from '../checkpoint/safetensors/checkpoint.js';
import { writeSafetensors, type WriteEntry } from '../checkpoint/safetensors/writer.js';
import { CheckpointError } from '../errors/index.js';
import { fromFloat32, toFloat32 } from '../graph/dtype.js';
import type { ModelConfig } from '../models/config.js';
import { expectedWeights } from '../models/weights.js';
import { fp8WeightScale, unpackAwq, unpackGptq } from './hf-layouts.js';
import { DEFAULT_EXCLUDED, linearBase, Q, type QuantSummary } from './types.js';

export type HfQuantMethod = 'fp8' | 'awq' | 'gptq';

interface HfQuant {
  readonly method: HfQuantMethod;
  readonly source: string;
  /** gptq: 1 for checkpoint_format "gptq" (zero − 1 stored), 0 for "gptq_v2". */
  readonly zeroOffset: 0 | 1;
}

/** The checkpoint's quantization scheme from config.json, or undefined for a float checkpoint. */
export function detectHfQuantization(json: unknown, file: string): HfQuant | undefined {
  const qc = (json as { quantization_config?: Record<string, unknown> }).quantization_config;
  if (!qc) return undefined;
  const method = String(qc['quant_method'] ?? '');
  const bits = qc['bits'] ?? qc['w_bit'];
  if (method === 'awq' || method === 'gptq') {
    if (bits !== 4) throw new CheckpointError(`${file}: quantization_config has ${method} with ${String(bits)} bits; Kiln reads 4-bit ${method} only.`);
    if (method === 'awq' && qc['version'] !== undefined && String(qc['version']).toLowerCase() !== 'gemm') {
      throw new CheckpointError(`${file}: AWQ version '${String(qc['version'])}' is not supported (Kiln reads the "gemm" packing).`);
    }
    return { method, source: method, zeroOffset: method === 'gptq' && qc['checkpoint_format'] !== 'gptq_v2' ? 1 : 0 };
  }
  if (method === 'modelopt' || method === 'compressed-tensors' || method === 'fp8') {
    if (qc['weight_block_size'] !== undefined) throw new CheckpointError(`${file}: block-wise FP8 (weight_block_size) is not supported; Kiln reads per-tensor or per-channel FP8 scales.`);
    return { method: 'fp8', source: method, zeroOffset: 0 };
  }
  throw new CheckpointError(`${file}: quantization_config.quant_method '${method}' is not supported; Kiln reads FP8 (modelopt, compressed-tensors, fp8), AWQ and GPTQ checkpoints.`);
}

const req = (src: SafetensorsCheckpoint, name: string, why: string): HostTensor => {
  if (!src.has(name)) throw new CheckpointError(`Tensor '${name}' is missing (${why}).`);
  return src.read(name);
};

/** Kiln tensors of one quantized Linear [N, K]. */
function importLinear(src: SafetensorsCheckpoint, q: HfQuant, base: string, n: number, k: number): WriteEntry[] {
  if (q.method === 'fp8') {
    const w = req(src, `${base}.weight`, 'FP8 weight');
    if (w.dtype !== 'fp8e4m3') throw new CheckpointError(`Tensor '${base}.weight' is ${w.dtype}; an FP8 checkpoint stores Linear weights as F8_E4M3.`);
    const scale = fp8WeightScale(`${base}.weight_scale`, req(src, `${base}.weight_scale`, 'FP8 weight scale'), n);
    const out: WriteEntry[] = [
      { name: Q.qweight(base), dtype: 'fp8e4m3', shape: [n, k], data: w.data },
      { name: Q.weightScale(base), dtype: 'float32', shape: [scale.length], data: scale },
    ];
    if (src.has(`${base}.input_scale`)) {
      const s = toFloat32(src.info(`${base}.input_scale`).dtype, src.read(`${base}.input_scale`).data);
      if (s.length !== 1) throw new CheckpointError(`Tensor '${base}.input_scale' has ${s.length} values; Kiln reads one static input scale per Linear.`);
      out.push({ name: Q.inputScale(base), dtype: 'float32', shape: [1], data: s });
    }
    return out;
  }
  const t = q.method === 'awq'
    ? unpackAwq(base, req(src, `${base}.qweight`, 'AWQ'), req(src, `${base}.qzeros`, 'AWQ'), req(src, `${base}.scales`, 'AWQ'), n, k)
    : unpackGptq(base, {
      qweight: req(src, `${base}.qweight`, 'GPTQ'), qzeros: req(src, `${base}.qzeros`, 'GPTQ'), scales: req(src, `${base}.scales`, 'GPTQ'),
      ...(src.has(`${base}.g_idx`) ? { gIdx: src.read(`${base}.g_idx`) } : {}),
    }, n, k, q.zeroOffset);
  return [
    { name: Q.qweight(base), dtype: 'uint8', shape: [n, k / 2], data: t.qweight },
    { name: Q.weightScale(base), dtype: 'float32', shape: [n, t.numGroups], data: t.scales },
    { name: Q.zeros(base), dtype: 'uint8', shape: [n, t.numGroups], data: t.zeros },
  ];
}

/** Names the importer reads for quantized Linears (anything else unexpected is an error). */
const QUANT_SUFFIXES = /\.(weight_scale|input_scale|qweight|qzeros|scales|g_idx|k_scale|v_scale)$/;

function isQuantizedLinear(src: SafetensorsCheckpoint, q: HfQuant, name: string): boolean {
  const base = linearBase(name);
  if (!base || DEFAULT_EXCLUDED.includes(name as never)) return false;
  return q.method === 'fp8' ? src.has(`${base}.weight`) && src.info(`${base}.weight`).dtype === 'fp8e4m3' : src.has(`${base}.qweight`);
}

function planEntries(src: SafetensorsCheckpoint, q: HfQuant, model: ModelConfig, dtype: ConvertOptions['dtype']): { entries: WriteEntry[]; groupSize?: number } {
  const entries: WriteEntry[] = [];
  let groupSize: number | undefined;
  for (const { name, shape } of expectedWeights(model)) {
    if (isQuantizedLinear(src, q, name)) {
      const e = importLinear(src, q, linearBase(name)!, shape[0]!, shape[1]!);
      if (q.method !== 'fp8') groupSize = shape[1]! / e[1]!.shape[1]!;
      entries.push(...e);
      continue;
    }
    if (!src.has(name)) {
      if (name === 'lm_head.weight' && model.tieWordEmbeddings) continue;
      throw new CheckpointError(`Tensor '${name}' is missing from the checkpoint (expected shape [${shape.join(', ')}]).`);
    }
    const t = src.read(name);
    entries.push({ name, dtype, shape: t.shape, data: t.dtype === dtype ? t.data : fromFloat32(dtype, toFloat32(t.dtype, t.data)) as TypedData });
  }
  const known = new Set(expectedWeights(model).map((w) => w.name));
  const stray = src.names().filter((n) => !known.has(n) && !QUANT_SUFFIXES.test(n) && !/rotary_emb\.inv_freq$/.test(n));
  if (stray.length > 0) throw new CheckpointError(`The checkpoint has tensor(s) Kiln does not know: ${stray.slice(0, 5).map((s) => `'${s}'`).join(', ')}.`);
  return { entries, ...(groupSize !== undefined ? { groupSize } : {}) };
}

/** ModelOpt's per-layer KV cache scales (`self_attn.k_proj.k_scale`, `self_attn.v_proj.v_scale`), when every layer has both. */
function readKvScales(src: SafetensorsCheckpoint, numLayers: number): { k: number[]; v: number[] } | undefined {
  const k: number[] = [], v: number[] = [];
  for (let l = 0; l < numLayers; l++) {
    const kn = `model.layers.${l}.self_attn.k_proj.k_scale`, vn = `model.layers.${l}.self_attn.v_proj.v_scale`;
    if (!src.has(kn) || !src.has(vn)) return undefined;
    const ks = toFloat32(src.info(kn).dtype, src.read(kn).data), vs = toFloat32(src.info(vn).dtype, src.read(vn).data);
    if (ks.length !== 1 || vs.length !== 1 || !(ks[0]! > 0) || !(vs[0]! > 0)) throw new CheckpointError(`Tensors '${kn}' / '${vn}' must each hold one positive KV cache scale.`);
    k.push(ks[0]!);
    v.push(vs[0]!);
  }
  return { k, v };
}

/** Imports a pre-quantized HF checkpoint into a Kiln checkpoint (see the file comment). */
export async function convertQuantizedCheckpoint(options: ConvertOptions, model: ModelConfig, q: HfQuant): Promise<ConvertResult> {
  assertReplaceable(options.outputDir, isKilnCheckpointDir, 'Kiln checkpoint');
  const src = openCheckpoint(options.modelDir);
  try {
    const { entries, groupSize } = planEntries(src, q, { ...model }, options.dtype);
    let quant: QuantSummary = {
      format: q.method === 'fp8' ? 'fp8' : 'int4_wo', kvCacheDtype: null, source: q.source, excluded: [...DEFAULT_EXCLUDED],
      ...(groupSize !== undefined ? { groupSize } : {}),
    };
    const kvScales = readKvScales(src, model.numLayers);
    if (kvScales) quant = { ...quant, kvScales };
    const out: ModelConfig = { ...model, dtype: options.dtype };
    await writeDirAtomically(options.outputDir, async (job) => {
      await writeSafetensors(path.join(job.tempDir, WEIGHTS_FILE), entries, { metadata: { format: 'pt' } });
      for (const f of TOKENIZER_FILES) if (fs.existsSync(path.join(options.modelDir, f))) fs.copyFileSync(path.join(options.modelDir, f), path.join(job.tempDir, f));
      const config = {
        kilnCheckpoint: KILN_CHECKPOINT_VERSION, model: out, quant,
        source: { format: 'huggingface', modelDir: path.resolve(options.modelDir), architecture: model.architecture, dtype: model.dtype, files: src.paths().map((p) => path.basename(p)) },
      };
      fs.writeFileSync(path.join(job.tempDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    });
    options.onProgress?.(entries.length, entries.length, 'done');
    return { outputDir: options.outputDir, model: out, numTensors: entries.length, skipped: [] };
  } finally {
    src.dispose();
  }
}
