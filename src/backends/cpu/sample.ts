/**
 * Token selection for `CpuContext.runAndSample`, with the runtime's own host sampler functions, so
 * a row sampled here picks exactly the token the logits path would (same processors, same order,
 * same uniform). The CPU backend offers the capability so the runtime's device-sampling path runs
 * in CI.
 */
import type { RowSampling } from '../types.js';
import { drawFrom } from '../../runtime/sampling/sampler.js';
import { applyMinP, applyTemperature, applyTopK, applyTopP, argmax, softmax } from '../../runtime/sampling/processors.js';

/** The token for one float32 logits row (greedy when temperature is 0). */
export function sampleRow(row: Float32Array, s: RowSampling): number {
  if (s.temperature === 0) return argmax(row);
  const logits = Float32Array.from(row);
  applyTemperature(logits, s.temperature);
  applyTopK(logits, s.topK);
  applyTopP(logits, s.topP);
  applyMinP(logits, s.minP);
  return drawFrom(softmax(logits), s.uniform);
}

/** One token per row of `logits` [rows, vocab]. */
export function sampleRows(logits: Float32Array, vocab: number, sampling: readonly RowSampling[]): Int32Array {
  const ids = new Int32Array(sampling.length);
  sampling.forEach((s, r) => {
    ids[r] = sampleRow(logits.subarray(r * vocab, (r + 1) * vocab), s);
  });
  return ids;
}
