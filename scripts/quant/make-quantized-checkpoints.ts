/**
 * Writes hand-built pre-quantized Hugging Face checkpoints of a fixture model (default
 * test/fixtures/models/llama3-gqa), following the published layouts (src/quant/hf-layouts.ts):
 *   fp8-modelopt/            quant_method modelopt, FP8: per-tensor weight_scale [] and static
 *                            input_scale [], k_proj.k_scale / v_proj.v_scale [] (calibrated exactly
 *                            as `kiln build --quant fp8 --kv_cache_dtype fp8` does)
 *   fp8-compressed-tensors/  per-channel weight_scale [N, 1], no input_scale (dynamic per token)
 *   awq/                     AutoAWQ gemm int4, group 32: qweight [K, N/8], qzeros, scales f16
 *   gptq/                    AutoGPTQ int4 sym, group 32, checkpoint_format gptq (zero − 1 stored), g_idx
 * The codes are Kiln's own quantization of the fixture's float weights (src/quant/numerics.ts),
 * so reading these checkpoints must give the logits of quantizing the same weights ourselves.
 * Usage: npx tsx scripts/quant/make-quantized-checkpoints.ts OUT_DIR [FIXTURE_DIR]
 */
import fs from 'node:fs';
import path from 'node:path';
import type { HostTensor } from '../../src/backends/types.js';
import { openCheckpoint, writeSafetensors, type WriteEntry } from '../../src/checkpoint/index.js';
import { fromFloat32, toFloat32 } from '../../src/graph/dtype.js';
import { parseHfConfig } from '../../src/models/hf-config.js';
import { defineLlama } from '../../src/models/llama.js';
import { expectedWeights } from '../../src/models/weights.js';
import { Network } from '../../src/graph/network.js';
import { calibrationPrompts } from '../../src/quant/calib-data.js';
import { calibrate } from '../../src/quant/calibrate.js';
import { CALIB_MAX_LEN } from '../../src/quant/build.js';
import { AWQ_ORDER } from '../../src/quant/hf-layouts.js';
import { fp8ActivationScale, quantizeFp8Weight, quantizeWo, unpackInt4 } from '../../src/quant/numerics.js';
import { DEFAULT_EXCLUDED, DEFAULT_QUANT_OPTIONS } from '../../src/quant/types.js';

export const HAND_BUILT_GROUP_SIZE = 32;
export const HAND_BUILT = ['fp8-modelopt', 'fp8-compressed-tensors', 'awq', 'gptq'] as const;

type Kind = (typeof HAND_BUILT)[number];

const QUANT_CONFIG: Record<Kind, object> = {
  'fp8-modelopt': { quant_method: 'modelopt', quant_algo: 'FP8' },
  'fp8-compressed-tensors': {
    quant_method: 'compressed-tensors', format: 'float-quantized',
    config_groups: { group_0: { targets: ['Linear'], weights: { num_bits: 8, type: 'float', strategy: 'channel', dynamic: false, symmetric: true }, input_activations: { num_bits: 8, type: 'float', strategy: 'token', dynamic: true, symmetric: true } } },
    ignore: ['lm_head'],
  },
  awq: { quant_method: 'awq', bits: 4, group_size: HAND_BUILT_GROUP_SIZE, zero_point: true, version: 'gemm' },
  gptq: { quant_method: 'gptq', bits: 4, group_size: HAND_BUILT_GROUP_SIZE, sym: true, desc_act: false },
};

/** Packs 8 nibbles per int32: word[j] field i = value(j, i). */
function packWords(numWords: number, value: (j: number, i: number) => number): Int32Array {
  const out = new Int32Array(numWords);
  for (let j = 0; j < numWords; j++) {
    let w = 0;
    for (let i = 0; i < 8; i++) w |= (value(j, i) & 0xf) << (4 * i);
    out[j] = w;
  }
  return out;
}

function int4Codes(w: Float32Array, n: number, k: number): { codes: Uint8Array; scales: Float32Array; g: number } {
  const q = quantizeWo(w, n, k, 4, HAND_BUILT_GROUP_SIZE);
  return { codes: unpackInt4(q.qweight, n, k), scales: q.scales, g: k / HAND_BUILT_GROUP_SIZE };
}

/** scales [N, G] → f16 [G, N]. */
const scalesGN = (s: Float32Array, n: number, g: number): Uint16Array => fromFloat32('float16', Float32Array.from({ length: g * n }, (_, i) => s[(i % n) * g + Math.floor(i / n)]!)) as Uint16Array;

function linearEntries(kind: Kind, base: string, w: Float32Array, n: number, k: number, inputAmax: number | undefined): WriteEntry[] {
  if (kind === 'fp8-modelopt' || kind === 'fp8-compressed-tensors') {
    const perChannel = kind === 'fp8-compressed-tensors';
    const q = quantizeFp8Weight(w, n, k, perChannel);
    const out: WriteEntry[] = [
      { name: `${base}.weight`, dtype: 'fp8e4m3', shape: [n, k], data: q.codes },
      { name: `${base}.weight_scale`, dtype: 'float32', shape: perChannel ? [n, 1] : [], data: q.scales },
    ];
    if (!perChannel) out.push({ name: `${base}.input_scale`, dtype: 'float32', shape: [], data: Float32Array.of(fp8ActivationScale(inputAmax!)) });
    return out;
  }
  const { codes, scales, g } = int4Codes(w, n, k);
  if (kind === 'awq') {
    const qweight = packWords(k * (n / 8), (j, i) => codes[(8 * (j % (n / 8)) + AWQ_ORDER[i]!) * k + Math.floor(j / (n / 8))]!);
    const qzeros = packWords(g * (n / 8), () => 8);
    return [
      { name: `${base}.qweight`, dtype: 'int32', shape: [k, n / 8], data: qweight },
      { name: `${base}.qzeros`, dtype: 'int32', shape: [g, n / 8], data: qzeros },
      { name: `${base}.scales`, dtype: 'float16', shape: [g, n], data: scalesGN(scales, n, g) },
    ];
  }
  const qweight = packWords((k / 8) * n, (j, i) => codes[(j % n) * k + 8 * Math.floor(j / n) + i]!);
  const qzeros = packWords(g * (n / 8), () => 7); // zero 8 stored as 8 − 1 (checkpoint_format "gptq")
  return [
    { name: `${base}.qweight`, dtype: 'int32', shape: [k / 8, n], data: qweight },
    { name: `${base}.qzeros`, dtype: 'int32', shape: [g, n / 8], data: qzeros },
    { name: `${base}.scales`, dtype: 'float16', shape: [g, n], data: scalesGN(scales, n, g) },
    { name: `${base}.g_idx`, dtype: 'int32', shape: [k], data: Int32Array.from({ length: k }, (_, i) => Math.floor(i / HAND_BUILT_GROUP_SIZE)) },
  ];
}

/** Writes the four checkpoints under `outDir`; returns their directories by kind. */
export async function makeQuantizedCheckpoints(outDir: string, fixtureDir: string): Promise<Record<Kind, string>> {
  const configJson = JSON.parse(fs.readFileSync(path.join(fixtureDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const model = parseHfConfig(configJson, path.join(fixtureDir, 'config.json'));
  const src = openCheckpoint(fixtureDir);
  try {
    const network = new Network();
    defineLlama(network, model);
    const prompts = calibrationPrompts(fixtureDir, model.vocabSize, DEFAULT_QUANT_OPTIONS.calibSize, CALIB_MAX_LEN);
    const stats = calibrate(network.toGraph(), src, model, prompts, 0);
    const dirs = {} as Record<Kind, string>;
    for (const kind of HAND_BUILT) {
      const dir = path.join(outDir, kind);
      fs.mkdirSync(dir, { recursive: true });
      const entries: WriteEntry[] = [];
      for (const { name, shape } of expectedWeights(model)) {
        const t: HostTensor = src.read(name);
        const quantize = name.endsWith('_proj.weight') && !DEFAULT_EXCLUDED.includes(name as never);
        if (quantize) entries.push(...linearEntries(kind, name.slice(0, -'.weight'.length), toFloat32(t.dtype, t.data), shape[0]!, shape[1]!, stats.inputAmax.get(name)));
        else entries.push({ name, dtype: t.dtype, shape: t.shape, data: t.data });
      }
      if (kind === 'fp8-modelopt') {
        // ModelOpt's KV cache scales, one per layer: calibrated amax / 448, as kiln build computes them.
        for (let l = 0; l < model.numLayers; l++) {
          const p = `model.layers.${l}.self_attn`;
          entries.push({ name: `${p}.k_proj.k_scale`, dtype: 'float32', shape: [], data: Float32Array.of(fp8ActivationScale(stats.kAmax[l]!)) });
          entries.push({ name: `${p}.v_proj.v_scale`, dtype: 'float32', shape: [], data: Float32Array.of(fp8ActivationScale(stats.vAmax[l]!)) });
        }
      }
      await writeSafetensors(path.join(dir, 'model.safetensors'), entries, { metadata: { format: 'pt' } });
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...configJson, quantization_config: QUANT_CONFIG[kind] }, null, 2));
      dirs[kind] = dir;
    }
    return dirs;
  } finally {
    src.dispose();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const [out, fixture = path.join('test', 'fixtures', 'models', 'llama3-gqa')] = process.argv.slice(2);
  if (!out) throw new Error('usage: npx tsx scripts/quant/make-quantized-checkpoints.ts OUT_DIR [FIXTURE_DIR]');
  const dirs = await makeQuantizedCheckpoints(out, fixture);
  for (const [kind, dir] of Object.entries(dirs)) process.stdout.write(`${kind}: ${dir}\n`);
}
