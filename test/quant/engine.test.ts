/**
 * Quantized CPU engines against the unquantized engine of the same fixture (HF directories of
 * test/fixtures/models, each prompt one 40-token prefill, logits at every position).
 *
 * 1. Exactness of the wiring: a weight-only engine equals the float engine built from the
 *    dequantized weights (the quantize pass, wo_matmul and AWQ's pre_scale change nothing but the
 *    weights' values), to float32 GEMM rounding: 1e-4 absolute on logits ≤ ~17.
 * 2. Accuracy. The fixtures are random-weight models (hidden 64–96): no outlier channels and
 *    logits that react strongly to any perturbation, a harsh case for quantization. Per-weight
 *    error relative to the weight scale is ~0.7% rms for int8 (s/2 steps with s = amax/127),
 *    ~3.6% for fp8 (3 mantissa bits, weights and activations) and ~12% for int4, so the bounds
 *    are ordered int8 < fp8 < int4. MAX_REL bounds max |Δlogit| / max |logit| and MIN_TOP1 the
 *    share of positions whose argmax agrees; both are the worst value measured over the four
 *    fixtures (printed) with ~1.5× headroom, and they fail on wiring mistakes (a transposed
 *    scale or a wrong group index gives errors ≥ the logits themselves and chance-level top-1).
 */
import { describe, expect, it } from 'vitest';
import { createMapWeightStore } from '../../src/builder/weights.js';
import { openCheckpoint } from '../../src/checkpoint/index.js';
import { dequantizeStored } from '../../src/quant/checkpoint-view.js';
import type { QuantOptions } from '../../src/quant/types.js';
import type { HostTensor } from '../../src/backends/types.js';
import { buildEngine, compareLogits, fixtureConfig, fixtureDir, prefillLogits, promptIds } from './helpers.js';

const FIXTURES = ['llama3-gqa', 'qwen2-bias-tied-bf16', 'mistral-mqa', 'llama-bias-linear-f16'];

const FORMATS: Record<string, { options: Partial<QuantOptions>; maxRel: number; minTop1: number; kv?: boolean }> = {
  'int8_wo g64': { options: { format: 'int8_wo', groupSize: 64 }, maxRel: 0.08, minTop1: 0.85 },
  'fp8 static/tensor': { options: { format: 'fp8' }, maxRel: 0.5, minTop1: 0.6 },
  'fp8 dynamic/channel': { options: { format: 'fp8', fp8Activation: 'dynamic', fp8WeightScale: 'channel' }, maxRel: 0.5, minTop1: 0.6 },
  'int4_wo g64 awq': { options: { format: 'int4_wo', groupSize: 64, awq: true }, maxRel: 1.2, minTop1: 0.25 },
  'fp8 kv only': { options: { format: null, kvCacheDtype: 'fp8' }, maxRel: 0.3, minTop1: 0.7, kv: true },
};

describe('quantized engines vs unquantized', () => {
  for (const name of FIXTURES) {
    it(name, () => {
      const dir = fixtureDir(name);
      const vocab = fixtureConfig(dir).vocabSize;
      const prompts = [promptIds(40, vocab, 1), promptIds(40, vocab, 2)];
      const base = buildEngine(dir);
      const refs = prompts.map((p) => prefillLogits(base, p));
      for (const [label, f] of Object.entries(FORMATS)) {
        const engine = buildEngine(dir, f.options);
        let top1 = 0, rel = 0;
        prompts.forEach((p, i) => {
          const a = compareLogits(refs[i]!, prefillLogits(engine, p, f.kv ? 'fp8e4m3' : 'float32'), vocab);
          top1 += a.top1 / prompts.length;
          rel = Math.max(rel, a.maxAbs / a.refMax);
        });
        console.log(`${name} ${label}: top-1 ${(100 * top1).toFixed(1)}%, max |Δlogit| / max |logit| ${rel.toFixed(3)}`);
        expect(rel, label).toBeLessThanOrEqual(f.maxRel);
        expect(top1, label).toBeGreaterThanOrEqual(f.minTop1);
      }
    });
  }
});

describe('weight-only engines equal the float engine of their dequantized weights', () => {
  for (const options of [{ format: 'int8_wo', groupSize: 128 }, { format: 'int4_wo', groupSize: 64, awq: true }] as const) {
    it(`${options.format}${'awq' in options ? ' + awq' : ''} on mistral-mqa`, () => {
      const dir = fixtureDir('mistral-mqa');
      const engine = buildEngine(dir, options);
      const ckpt = openCheckpoint(dir);
      const tensors: Record<string, HostTensor> = {};
      for (const n of ckpt.names()) {
        const base = n.slice(0, -'.weight'.length);
        tensors[n] = engine.weights.has(`${base}.qweight`) ? { dtype: 'float32', shape: ckpt.info(n).shape, data: dequantizeStored(engine.weights, base, options.groupSize) } : ckpt.read(n);
      }
      ckpt.dispose();
      const float = buildEngine(dir, undefined, { weights: createMapWeightStore(tensors) });
      const ids = promptIds(40, 256, 5);
      const a = compareLogits(prefillLogits(float, ids), prefillLogits(engine, ids), 256);
      expect(a.maxAbs).toBeLessThanOrEqual(1e-4);
      expect(engine.graph.nodes.filter((n) => n.op === 'wo_matmul')).toHaveLength(14);
      if ('awq' in options) expect(engine.weights.names().filter((n) => n.endsWith('.pre_scale'))).toHaveLength(14);
    });
  }
});
