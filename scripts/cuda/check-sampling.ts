/** GPU checks of greedy argmax and seeded temperature/top-k/top-p sampling. */
import * as ops from '../../src/backends/cuda/ops.js';
import { Arena, type CheckResult } from './harness.js';
import type { Ctx } from './check-kernels.js';

function cpuArgmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

export function checkArgmax(c: Ctx): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const rows = 64, vocab = 128256;
    const logits = c.rng.floats(rows * vocab, -10, 10);
    const d = a.upload(logits), out = a.poisoned(rows * 4);
    ops.argmaxRows(c.ks, c.stream, d, vocab, rows, out);
    const got = new Int32Array(rows);
    out.download(got, c.stream);
    let wrong = 0;
    for (let r = 0; r < rows; r++) if (got[r] !== cpuArgmax(logits.subarray(r * vocab, (r + 1) * vocab))) wrong++;
    const ms = a.time(() => ops.argmaxRows(c.ks, c.stream, d, vocab, rows, out));
    return { name: `argmax rows=${rows} vocab=${vocab}`, pass: wrong === 0, error: wrong, tolerance: 0, ms, gbps: (rows * vocab * 4) / (ms * 1e6), note: 'error = rows differing from the CPU argmax' };
  } finally { a.dispose(); }
}

/** The CPU's kept set and probabilities for temperature/top-k/top-p (HF warper order), float64. */
function expectedDistribution(row: Float32Array, temp: number, topK: number, topP: number, minP: number): Float64Array {
  const idx = Array.from(row.keys()).sort((x, y) => row[y]! - row[x]!);
  const keepK = topK > 0 && topK < row.length ? topK : row.length;
  const mx = row[idx[0]!]!;
  const w = idx.slice(0, keepK).map((i) => Math.exp((row[i]! - mx) / temp));
  const z = w.reduce((s, v) => s + v, 0);
  const probs = new Float64Array(row.length);
  let cum = 0;
  for (let j = 0; j < keepK; j++) {
    probs[idx[j]!] = w[j]! / z;
    cum += w[j]! / z;
    if (topP < 1 && cum >= topP) break;
  }
  // min-p: drop tokens below minP × the top token's probability (the ratio survives renormalising).
  const top = probs[idx[0]!]!;
  for (let i = 0; i < probs.length; i++) if (probs[i]! < minP * top) probs[i] = 0;
  const kept = probs.reduce((s, v) => s + v, 0);
  return probs.map((p) => p / kept);
}

/**
 * Samples the same logits under many seeds: every draw must lie in the CPU's kept set, and the
 * empirical distribution must be within total variation 1.5·E[TV] + 0.005 of the CPU's, where E[TV]
 * is what an exact sampler shows at N = 32768 draws. Also: same seeds → same ids, topK = 1 → argmax.
 */
export function checkSampling(c: Ctx, temp: number, topK: number, topP: number, minP = 0): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const vocab = 1000, rows = 32768;
    const base = c.rng.floats(vocab, -4, 4);
    const logits = new Float32Array(rows * vocab);
    for (let r = 0; r < rows; r++) logits.set(base, r * vocab);
    const uniforms = new Float32Array(rows).map(() => Number(c.rng.u64() >> 40n) / 16777216);
    const dl = a.upload(logits), dUniforms = a.upload(uniforms), dMinP = a.upload(new Float32Array(rows).fill(minP));
    const params = (k: number): Parameters<typeof ops.sampleRows>[5] => ({
      temperature: a.upload(new Float32Array(rows).fill(temp)), topK: a.upload(new Int32Array(rows).fill(k)),
      topP: a.upload(new Float32Array(rows).fill(k === 1 ? 1 : topP)), minP: dMinP, uniforms: dUniforms,
    });
    const p = params(topK), out = a.poisoned(rows * 4), out2 = a.poisoned(rows * 4), outK1 = a.poisoned(rows * 4);
    ops.sampleRows(c.ks, c.stream, dl, vocab, rows, p, out);
    ops.sampleRows(c.ks, c.stream, dl, vocab, rows, p, out2);
    ops.sampleRows(c.ks, c.stream, dl, vocab, rows, params(1), outK1);
    const got = new Int32Array(rows), again = new Int32Array(rows), k1 = new Int32Array(rows);
    out.download(got, c.stream); out2.download(again, c.stream); outK1.download(k1, c.stream);
    const expected = expectedDistribution(base, temp, topK, topP, minP);
    const counts = new Float64Array(vocab);
    let outside = 0;
    for (const id of got) { if (id < 0 || id >= vocab || expected[id] === 0) outside++; else counts[id]!++; }
    let tv = 0;
    for (let i = 0; i < vocab; i++) tv += Math.abs(counts[i]! / rows - expected[i]!) / 2;
    const deterministic = got.every((v, i) => v === again[i]);
    const greedy = cpuArgmax(base);
    const k1ok = k1.every((v) => v === greedy);
    const kept = expected.filter((v) => v > 0).length;
    // E[TV] of an exact sampler at N draws: ½·Σ √(2/π)·√(p(1−p)/N); allow 1.5× that plus 0.005.
    const noise = 0.5 * Math.sqrt(2 / Math.PI) * expected.reduce((s2, q) => s2 + Math.sqrt((q * (1 - q)) / rows), 0);
    const tol = 1.5 * noise + 0.005;
    // Timing at a serving shape: 64 rows of the Llama-3 vocabulary.
    const tRows = 64, tVocab = 128256;
    const tl = a.upload(c.rng.floats(tRows * tVocab, -10, 10)), tOut = a.alloc(tRows * 4);
    const tp = { temperature: a.upload(new Float32Array(tRows).fill(temp)), topK: a.upload(new Int32Array(tRows).fill(topK)),
      topP: a.upload(new Float32Array(tRows).fill(topP)), minP: a.upload(new Float32Array(tRows).fill(minP)),
      uniforms: a.upload(new Float32Array(tRows).map(() => Number(c.rng.u64() >> 40n) / 16777216)) };
    const ms = a.time(() => ops.sampleRows(c.ks, c.stream, tl, tVocab, tRows, tp, tOut), 10);
    return { name: `sample T=${temp} top_k=${topK} top_p=${topP}${minP > 0 ? ` min_p=${minP}` : ''}`, pass: outside === 0 && tv < tol && deterministic && k1ok, error: tv, tolerance: tol, ms,
      note: `TV distance over ${rows} draws (${kept} kept tokens); outside kept set ${outside}; same uniforms same ids ${deterministic}; top_k=1 = argmax ${k1ok}; time for 64 rows x 128256` };
  } finally { a.dispose(); }
}
