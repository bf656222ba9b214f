/**
 * rope vs a direct transcription of HF transformers (modeling_llama.apply_rotary_pos_emb with
 * rotate_half, and modeling_rope_utils' default / linear / llama3 inverse frequencies), in float64.
 * Tolerance 2e-6: the kernel stores float32 cos/sin and outputs (|x| <= 1, so |error| ~ 1e-7 each).
 */
import { describe, expect, it } from 'vitest';
import { ropeInvFreq } from '../../../src/backends/cpu/index.js';
import { Network, rope } from '../../../src/graph/index.js';
import type { RopeScaling } from '../../../src/models/config.js';
import { contextOf, f32, i32, maxAbsDiff, randomArray, rng } from './helpers.js';

/** HF: inv_freq = 1 / base ** (arange(0, dim, 2) / dim), then the rope_type's adjustment. */
function hfInvFreq(dim: number, base: number, s: RopeScaling): number[] {
  let inv: number[] = [];
  for (let i = 0; i < dim; i += 2) inv.push(1 / base ** (i / dim));
  if (s.type === 'linear') inv = inv.map((f) => f / s.factor); // _compute_linear_scaling_rope_parameters
  if (s.type === 'llama3') {
    // _compute_llama3_parameters, line by line
    const { factor, lowFreqFactor: lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldContextLen } = s;
    const lowFreqWavelen = oldContextLen / lowFreqFactor;
    const highFreqWavelen = oldContextLen / highFreqFactor;
    const wavelen = inv.map((f) => (2 * Math.PI) / f);
    const invFreqLlama = inv.map((f, i) => (wavelen[i]! > lowFreqWavelen ? f / factor : f));
    const smoothFactor = wavelen.map((w) => (oldContextLen / w - lowFreqFactor) / (highFreqFactor - lowFreqFactor));
    const smoothed = invFreqLlama.map((f, i) => ((1 - smoothFactor[i]!) * f) / factor + smoothFactor[i]! * f);
    const isMedium = wavelen.map((w) => !(w < highFreqWavelen) && !(w > lowFreqWavelen));
    inv = invFreqLlama.map((f, i) => (isMedium[i] ? smoothed[i]! : f));
  }
  return inv;
}

/** HF apply_rotary_pos_emb: x·cos + rotate_half(x)·sin with emb = cat(freqs, freqs). */
function hfRope(x: Float32Array, positions: number[], numHeads: number, dim: number, inv: number[]): number[] {
  const out: number[] = [];
  positions.forEach((pos, t) => {
    const freqs = inv.map((f) => pos * f);
    const emb = [...freqs, ...freqs];
    for (let h = 0; h < numHeads; h++) {
      const v = Array.from(x.subarray((t * numHeads + h) * dim, (t * numHeads + h + 1) * dim));
      const rotated = [...v.slice(dim / 2).map((y) => -y), ...v.slice(0, dim / 2)];
      for (let i = 0; i < dim; i++) out.push(v[i]! * Math.cos(emb[i]!) + rotated[i]! * Math.sin(emb[i]!));
    }
  });
  return out;
}

const llama31: RopeScaling = { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
const cases: [string, RopeScaling, number, number][] = [
  ['default', { type: 'default' }, 10000, 16],
  ['linear', { type: 'linear', factor: 4 }, 10000, 16],
  ['llama3 (Llama 3.1 settings)', llama31, 500000, 128],
  ['llama3 (short original context: every band hit)', { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 }, 10000, 32],
];

describe('rope', () => {
  for (const [label, scaling, theta, dim] of cases) {
    it(`${label}: inverse frequencies and rotated values match HF`, () => {
      const inv = hfInvFreq(dim, theta, scaling);
      expect(maxAbsDiff(ropeInvFreq(dim, theta, scaling), inv)).toBeLessThan(1e-15);
      const numHeads = 3;
      const positions = [0, 1, 7, 300, 8191, 40000, 5];
      const x = randomArray(positions.length * numHeads * dim, rng(dim));
      const net = new Network();
      const xt = net.addInput('x', ['t', numHeads * dim], 'float32');
      const pt = net.addInput('positions', ['t'], 'int32');
      net.markOutput('y', rope(xt, pt, { numHeads, headDim: dim, theta, scaling }));
      const ctx = contextOf(net);
      const run = (pos: number[]) => ctx.run({ tensors: { x: f32([pos.length, numHeads * dim], x.subarray(0, pos.length * numHeads * dim)), positions: i32([pos.length], pos) } })['y']!;
      expect(maxAbsDiff(run(positions).data, hfRope(x, positions, numHeads, dim, inv))).toBeLessThan(2e-6);
      // cached tables: a later call with smaller positions gives the same values
      expect(maxAbsDiff(run([0, 1]).data, hfRope(x, [0, 1], numHeads, dim, inv))).toBeLessThan(2e-6);
    });
  }

  it('llama3 keeps high frequencies, divides low ones by factor, and interpolates between', () => {
    const base = hfInvFreq(128, 500000, { type: 'default' });
    const scaled = ropeInvFreq(128, 500000, llama31);
    expect(scaled[0]).toBe(base[0]);
    expect(scaled[63]).toBeCloseTo(base[63]! / 8, 20);
    const medium = base.findIndex((f) => (2 * Math.PI) / f >= 8192 / 4 && (2 * Math.PI) / f <= 8192);
    expect(medium).toBeGreaterThan(0);
    expect(scaled[medium]!).toBeLessThan(base[medium]!);
    expect(scaled[medium]!).toBeGreaterThan(base[medium]! / 8);
  });
});
