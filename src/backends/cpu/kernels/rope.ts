/**
 * Rotary position embedding in the HF rotate_half layout: per head, the first and second
 * halves of the head dim pair up (x1, x2) → (x1·cos − x2·sin, x2·cos + x1·sin).
 * Inverse frequencies follow HF transformers' rope init functions (default, linear, llama3);
 * cos/sin are computed in float64 once per (config, position) and cached.
 */
import type { RopeScaling } from '../../../models/config.js';

/** HF `_compute_default_rope_parameters` then the scaling's adjustment. */
export function ropeInvFreq(headDim: number, theta: number, scaling: RopeScaling): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / theta ** ((2 * i) / headDim);
  if (scaling.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i]! /= scaling.factor;
  } else if (scaling.type === 'llama3') {
    applyLlama3(inv, scaling);
  }
  return inv;
}

/** HF `_compute_llama3_parameters`. */
function applyLlama3(inv: Float64Array, s: Extract<RopeScaling, { type: 'llama3' }>): void {
  const oldLen = s.originalMaxPositionEmbeddings;
  const lowFreqWavelen = oldLen / s.lowFreqFactor;
  const highFreqWavelen = oldLen / s.highFreqFactor;
  for (let i = 0; i < inv.length; i++) {
    const f = inv[i]!;
    const wavelen = (2 * Math.PI) / f;
    const scaled = wavelen > lowFreqWavelen ? f / s.factor : f;
    const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    if (isMedium) {
      const smooth = (oldLen / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      inv[i] = ((1 - smooth) * scaled) / s.factor + smooth * scaled;
    } else {
      inv[i] = scaled;
    }
  }
}

/** cos/sin of position · invFreq, grown on demand (positions are cached once computed). */
export class RopeTable {
  private readonly invFreq: Float64Array;
  private readonly half: number;
  private cos = new Float32Array(0);
  private sin = new Float32Array(0);
  private numPositions = 0;

  constructor(headDim: number, theta: number, scaling: RopeScaling) {
    this.invFreq = ropeInvFreq(headDim, theta, scaling);
    this.half = headDim / 2;
  }

  private ensure(maxPos: number): void {
    if (maxPos < this.numPositions) return;
    const count = Math.max(maxPos + 1, this.numPositions * 2, 256);
    const cos = new Float32Array(count * this.half);
    const sin = new Float32Array(count * this.half);
    cos.set(this.cos);
    sin.set(this.sin);
    for (let p = this.numPositions; p < count; p++) {
      for (let i = 0; i < this.half; i++) {
        const angle = p * this.invFreq[i]!;
        cos[p * this.half + i] = Math.cos(angle);
        sin[p * this.half + i] = Math.sin(angle);
      }
    }
    this.cos = cos;
    this.sin = sin;
    this.numPositions = count;
  }

  /** out[T, numHeads·headDim] = rope(x) at `positions` (non-negative). */
  apply(x: Float32Array, positions: Int32Array, out: Float32Array, numHeads: number): void {
    let maxPos = 0;
    for (const p of positions) {
      if (p < 0) throw new RangeError(`rope: negative position ${p}`);
      maxPos = Math.max(maxPos, p);
    }
    this.ensure(maxPos);
    const half = this.half, hd = 2 * half, width = numHeads * hd;
    for (let t = 0; t < positions.length; t++) {
      const c = positions[t]! * half;
      for (let h = 0; h < numHeads; h++) {
        const base = t * width + h * hd;
        for (let i = 0; i < half; i++) {
          const x1 = x[base + i]!, x2 = x[base + half + i]!;
          const cs = this.cos[c + i]!, sn = this.sin[c + i]!;
          out[base + i] = x1 * cs - x2 * sn;
          out[base + half + i] = x2 * cs + x1 * sn;
        }
      }
    }
  }
}
