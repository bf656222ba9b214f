/** RoPE inverse frequencies on the host (HF's default, linear and llama3 rules), as the kernel's table. */
import type { RopeScaling } from '../../models/config.js';

/** inv_freq[i] for i < headDim / 2, float32 like HF's buffer. */
export function ropeInvFreq(headDim: number, theta: number, scaling: RopeScaling): Float32Array {
  const half = headDim / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const base = 1 / theta ** ((2 * i) / headDim);
    out[i] = scaleFreq(base, scaling);
  }
  return out;
}

function scaleFreq(f: number, s: RopeScaling): number {
  if (s.type === 'default') return f;
  if (s.type === 'linear') return f / s.factor;
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  const wavelen = (2 * Math.PI) / f;
  if (wavelen < highWavelen) return f;
  if (wavelen > lowWavelen) return f / s.factor;
  const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
  return (1 - smooth) * (f / s.factor) + smooth * f;
}
