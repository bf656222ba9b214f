/**
 * Logits processors, pure functions over one Float32Array row, each in place. Removed tokens get
 * -Infinity (as in HF's warpers). Order used by the sampler: penalties → temperature → top-k →
 * top-p → min-p.
 */

/** HF `RepetitionPenaltyLogitsProcessor`: tokens seen in prompt or output: x > 0 ? x / p : x · p. */
export function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const t of new Set(seen)) {
    const x = logits[t];
    if (x === undefined) continue;
    logits[t] = x > 0 ? x / penalty : x * penalty;
  }
}

/** OpenAI penalties over generated tokens: x -= presence · [count > 0] + frequency · count. */
export function applyPresenceFrequencyPenalty(logits: Float32Array, output: readonly number[], presence: number, frequency: number): void {
  if (presence === 0 && frequency === 0) return;
  const counts = new Map<number, number>();
  for (const t of output) counts.set(t, (counts.get(t) ?? 0) + 1);
  for (const [t, c] of counts) {
    const x = logits[t];
    if (x !== undefined) logits[t] = x - presence - frequency * c;
  }
}

export function applyTemperature(logits: Float32Array, temperature: number): void {
  if (temperature === 1) return;
  for (let i = 0; i < logits.length; i++) logits[i] = (logits[i] as number) / temperature;
}

/** Keeps the k largest logits (ties with the k-th are kept, as in HF). */
export function applyTopK(logits: Float32Array, k: number): void {
  if (k <= 0 || k >= logits.length) return;
  const kth = Float32Array.from(logits).sort().reverse()[k - 1] as number;
  for (let i = 0; i < logits.length; i++) if ((logits[i] as number) < kth) logits[i] = -Infinity;
}

/** Keeps the smallest set of most likely tokens whose probability sums to ≥ p (at least one). */
export function applyTopP(logits: Float32Array, p: number): void {
  if (p >= 1) return;
  const probs = softmax(logits);
  // Only tokens still in play need sorting (after top-k, usually few).
  const live: number[] = [];
  for (let i = 0; i < probs.length; i++) if ((probs[i] as number) > 0) live.push(i);
  live.sort((a, b) => (probs[b] as number) - (probs[a] as number) || a - b);
  let cum = 0;
  let keep = 0;
  while (keep < live.length) {
    cum += probs[live[keep] as number] as number;
    keep++;
    if (cum >= p) break;
  }
  for (let j = keep; j < live.length; j++) logits[live[j] as number] = -Infinity;
}

/** Drops tokens whose probability is below minP × the most likely token's probability. */
export function applyMinP(logits: Float32Array, minP: number): void {
  if (minP <= 0) return;
  const probs = softmax(logits);
  let max = 0;
  for (const q of probs) max = Math.max(max, q);
  const threshold = minP * max;
  for (let i = 0; i < probs.length; i++) if ((probs[i] as number) < threshold) logits[i] = -Infinity;
}

/** Softmax in float64 (a fresh array). */
export function softmax(logits: Float32Array): Float64Array {
  const out = new Float64Array(logits.length);
  let max = -Infinity;
  for (const x of logits) if (x > max) max = x;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp((logits[i] as number) - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / sum;
  return out;
}

/** Log-softmax in float64 (a fresh array). */
export function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const x of logits) if (x > max) max = x;
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = (logits[i] as number) - lse;
  return out;
}

/** Indices sorted by value, largest first; ties by lower index. */
export function argsortDesc(values: ArrayLike<number>): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  return idx.sort((a, b) => (values[b] as number) - (values[a] as number) || a - b);
}

/** Indices of the `n` largest values, largest first (ties: lower index); O(length · n). */
export function topIndices(values: ArrayLike<number>, n: number): number[] {
  const top: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (top.length === n && v <= (values[top[n - 1] as number] as number)) continue;
    let j = top.length;
    while (j > 0 && (values[top[j - 1] as number] as number) < v) j--;
    top.splice(j, 0, i);
    if (top.length > n) top.pop();
  }
  return top;
}

/** Index of the largest value (lowest index on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}
