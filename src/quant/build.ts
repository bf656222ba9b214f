/**
 * Quantization inside `kiln build`: weights are quantized at build time (calibration needs the
 * model to run, and the CPU backend is right here); `kiln convert` only imports checkpoints that
 * are already quantized. `prepareQuantization` calibrates (when static fp8 scales, AWQ or fp8 KV
 * scales need it) and returns the pass list with the `quantize` pass first.
 */
import type { WeightStore } from '../engine/types.js';
import { ConfigError } from '../errors/index.js';
import { toFloat32 } from '../graph/dtype.js';
import type { GraphDef } from '../graph/types.js';
import type { ModelConfig } from '../models/config.js';
import { DEFAULT_PASSES, type NamedPass } from '../builder/passes/index.js';
import { createQuantizePass, type QuantizePassConfig } from '../builder/passes/quantize.js';
import { indexGraph } from '../builder/graph-edit.js';
import { matchLinear } from '../builder/passes/common.js';
import { searchAwqScales } from './awq.js';
import { calibrationPrompts } from './calib-data.js';
import { calibrate, type CalibrationStats } from './calibrate.js';
import { FP8_MAX } from './numerics.js';
import { DEFAULT_EXCLUDED, linearBase, type QuantOptions, type QuantSummary } from './types.js';

export interface PrepareQuantizationInput {
  readonly checkpointDir: string;
  readonly model: ModelConfig;
  /** The model's graph before any pass (HF weight names). */
  readonly graph: GraphDef;
  /** Checkpoint weights (with the float view of imported quantized weights). */
  readonly weights: WeightStore;
  readonly options: QuantOptions;
  /** `quant` of an already-quantized checkpoint. */
  readonly imported?: QuantSummary;
  readonly log: (line: string) => void;
}

export interface PreparedQuantization {
  readonly passes: readonly NamedPass[];
  readonly summary: QuantSummary;
}

/** Longest calibration prompt, in tokens. */
export const CALIB_MAX_LEN = 64;
/** Input rows kept per Linear for the AWQ search. */
export const AWQ_MAX_ROWS = 128;

function validate(o: QuantOptions, imported: QuantSummary | undefined): void {
  if (imported?.format && o.format && o.format !== imported.format) {
    throw new ConfigError(`the checkpoint is already quantized as ${imported.format} (from ${imported.source}); drop --quant ${o.format} or convert the unquantized model`);
  }
  if (o.awq && o.format !== 'int8_wo' && o.format !== 'int4_wo') throw new ConfigError('--awq applies to --quant int8_wo or int4_wo only');
  if (o.calibSize === 0 && o.format === 'fp8' && o.fp8Activation === 'static') {
    throw new ConfigError('static fp8 activation scales need calibration: pass --calib_size N (N > 0) or --fp8_activation dynamic');
  }
  if (o.calibSize === 0 && o.awq) throw new ConfigError('--awq needs calibration activations: pass --calib_size N (N > 0)');
}

function needsCalibration(o: QuantOptions, imported: QuantSummary | undefined): boolean {
  if (o.calibSize === 0) return false;
  const kvNeedsIt = o.kvCacheDtype === 'fp8' && imported?.kvScales === undefined;
  return (o.format === 'fp8' && o.fp8Activation === 'static' && !imported?.format) || o.awq || kvNeedsIt;
}

function awqScales(input: PrepareQuantizationInput, stats: CalibrationStats): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const bits = input.options.format === 'int8_wo' ? 8 : 4;
  const index = indexGraph(input.graph);
  let gain = 0, count = 0;
  input.graph.nodes.forEach((_, at) => {
    const m = matchLinear(index, input.graph.nodes, at);
    if (!m || !linearBase(m.weightName) || DEFAULT_EXCLUDED.includes(m.weightName as never) || out.has(m.weightName)) return;
    const x = stats.inputRows.get(m.weightName);
    if (!x) return;
    const t = input.weights.get(m.weightName);
    const k = t.shape[1]!;
    const r = searchAwqScales(toFloat32(t.dtype, t.data), m.outFeatures, k, x.rows, x.numRows, bits, input.options.groupSize);
    out.set(m.weightName, r.scales);
    gain += r.plainError > 0 ? r.error / r.plainError : 1;
    count++;
  });
  input.log(`awq: searched α for ${count} linears; calibration output error ${count ? ((gain / count) * 100).toFixed(1) : '100'}% of plain quantization on average`);
  return out;
}

export function prepareQuantization(input: PrepareQuantizationInput): PreparedQuantization {
  const o = input.options;
  validate(o, input.imported);
  let stats: CalibrationStats | undefined;
  if (needsCalibration(o, input.imported)) {
    const prompts = calibrationPrompts(input.checkpointDir, input.model.vocabSize, o.calibSize, CALIB_MAX_LEN);
    stats = calibrate(input.graph, input.weights, input.model, prompts, o.awq ? AWQ_MAX_ROWS : 0);
    input.log(`calibration: ${prompts.length} prompts, ${stats.numTokens} tokens`);
  }
  // KV scales: the checkpoint's own (ModelOpt), else calibrated, else 1.0.
  const shipped = input.imported?.kvScales;
  const kv = o.kvCacheDtype !== 'fp8' ? null : shipped ? { kScales: [...shipped.k], vScales: [...shipped.v] }
    : { kScales: kvScales(stats?.kAmax, input.model.numLayers), vScales: kvScales(stats?.vAmax, input.model.numLayers) };
  const kvSource = shipped ? 'from the checkpoint' : stats ? 'calibrated' : 'uncalibrated (scale 1.0, as TensorRT-LLM defaults)';
  if (kv) input.log(`fp8 KV cache: ${kvSource} K scales [${kv.kScales.map((s) => s.toPrecision(3)).join(', ')}], V scales [${kv.vScales.map((s) => s.toPrecision(3)).join(', ')}]`);
  const format = o.format ?? null;
  const cfg: QuantizePassConfig = {
    format: input.imported?.format ? null : format,
    fp8WeightScale: o.fp8WeightScale, fp8Activation: o.fp8Activation, groupSize: o.groupSize,
    inputAmax: stats?.inputAmax ?? new Map(),
    awqScales: stats && o.awq ? awqScales(input, stats) : new Map(),
    kv, excluded: [...DEFAULT_EXCLUDED],
  };
  const effective = input.imported?.format ?? format;
  const summary: QuantSummary = {
    format: effective,
    ...(effective === 'int8_wo' || effective === 'int4_wo' ? { groupSize: input.imported?.groupSize ?? o.groupSize, awq: input.imported?.awq ?? o.awq } : {}),
    ...(effective === 'fp8' ? { fp8WeightScale: input.imported?.fp8WeightScale ?? o.fp8WeightScale, fp8Activation: input.imported?.fp8Activation ?? o.fp8Activation } : {}),
    kvCacheDtype: kv ? 'fp8e4m3' : null,
    source: input.imported?.source ?? 'kiln',
    excluded: [...DEFAULT_EXCLUDED],
  };
  return { passes: [{ name: 'quantize', run: createQuantizePass(cfg) }, ...DEFAULT_PASSES], summary };
}

/** Per-layer KV scale amax / 448; 1.0 without calibration (TensorRT-LLM's default). */
function kvScales(amax: readonly number[] | undefined, numLayers: number): number[] {
  return Array.from({ length: numLayers }, (_, l) => {
    const a = amax?.[l] ?? 0;
    return a > 0 ? Math.fround(a / FP8_MAX) : 1;
  });
}
