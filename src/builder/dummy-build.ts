/**
 * `kiln build --load_format dummy`: build from a config.json alone (a Hugging Face model directory
 * or a Kiln checkpoint), with no weights on disk. The engine records `dummyWeights: { seed }` and
 * stores no weight sections; backends fill seeded random weights at load (backends/dummy-weights.ts).
 * With --quant the graph is quantized like a real build (the `quantize` pass over placeholder
 * weights: quantized tensors declared, never computed) and the backends fill random quantized codes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DUMMY_INPUT_AMAX } from '../backends/dummy-weights.js';
import type { WeightStore } from '../engine/types.js';
import { CheckpointError, ConfigError } from '../errors/index.js';
import type { GraphDef } from '../graph/types.js';
import type { ModelConfig } from '../models/config.js';
import { parseHfConfig } from '../models/index.js';
import { DEFAULT_EXCLUDED, DEFAULT_QUANT_OPTIONS, type QuantOptions, type QuantSummary } from '../quant/types.js';
import { DEFAULT_PASSES, type NamedPass } from './passes/index.js';
import { createQuantizePass } from './passes/quantize.js';

export type LoadFormat = 'auto' | 'dummy';

/** The model config of `dir`: a Kiln checkpoint's `model`, or a Hugging Face config.json. */
export function readModelConfigOnly(dir: string): ModelConfig {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) throw new CheckpointError(`${dir} has no config.json; --load_format dummy needs a Hugging Face config.json or a Kiln checkpoint config`);
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (typeof json['kilnCheckpoint'] === 'number') {
    const model = json['model'];
    if (!model || typeof model !== 'object') throw new CheckpointError(`${file} is a Kiln checkpoint config without a model; re-run kiln convert`);
    return model as ModelConfig;
  }
  return parseHfConfig(json, file);
}

/** A store that has every weight the graph reads but holds no bytes (never read for dummy engines). */
export function placeholderWeightStore(graph: GraphDef): WeightStore {
  const names = new Set(graph.tensors.filter((t) => t.kind === 'weight').map((t) => t.name!));
  return {
    names: () => [...names],
    has: (name) => names.has(name),
    get: (name) => {
      throw new CheckpointError(`weight '${name}' of a --load_format dummy build has no bytes; backends fill it at load`);
    },
  };
}

/**
 * The quantize pass (and the summary) of a `--load_format dummy --quant …` build, or undefined
 * without quantization flags. There is nothing to calibrate: static fp8 activation scales are
 * DUMMY_INPUT_AMAX / 448 and fp8 KV scales 1.0; AWQ (which needs real weights) is refused.
 */
export function dummyQuantization(graph: GraphDef, flags: Partial<QuantOptions> | undefined): { passes: readonly NamedPass[]; summary: QuantSummary } | undefined {
  const o = { ...DEFAULT_QUANT_OPTIONS, ...flags };
  if (o.format === null && o.kvCacheDtype !== 'fp8') return undefined;
  if (o.awq) throw new ConfigError('--awq searches scales on real weights and calibration data; it cannot be combined with --load_format dummy');
  const layers = Math.max(0, ...graph.nodes.filter((n) => n.op === 'attention').map((n) => Number(n.attrs['layer']) + 1));
  const weightNames = graph.tensors.filter((t) => t.kind === 'weight').map((t) => t.name!);
  const pass = createQuantizePass({
    format: o.format, fp8WeightScale: o.fp8WeightScale, fp8Activation: o.fp8Activation, groupSize: o.groupSize,
    inputAmax: new Map(weightNames.map((n) => [n, DUMMY_INPUT_AMAX])), awqScales: new Map(),
    kv: o.kvCacheDtype === 'fp8' ? { kScales: new Array<number>(layers).fill(1), vScales: new Array<number>(layers).fill(1) } : null,
    excluded: [...DEFAULT_EXCLUDED],
  });
  const f = o.format;
  const summary: QuantSummary = {
    format: f,
    ...(f === 'int8_wo' || f === 'int4_wo' ? { groupSize: o.groupSize, awq: false } : {}),
    ...(f === 'fp8' ? { fp8WeightScale: o.fp8WeightScale, fp8Activation: o.fp8Activation } : {}),
    kvCacheDtype: o.kvCacheDtype === 'fp8' ? 'fp8e4m3' : null, source: 'dummy', excluded: [...DEFAULT_EXCLUDED],
  };
  return { passes: [{ name: 'quantize', run: pass }, ...DEFAULT_PASSES], summary };
}
