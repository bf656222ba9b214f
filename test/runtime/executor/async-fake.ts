/**
 * A fake async device for the executor: FakeContext that samples "on the device" (penalties,
 * suppression and logprobs from RowSampling's contract, the CPU backend's selection) and offers
 * enqueueAndSample, whose steps complete a macrotask later. It logs enqueues and completions.
 */
import { expect } from 'vitest';
import type { PendingStep, RowLogprobs, RowSampling, SampledStep, StepInputs } from '../../../src/backends/types.js';
import { sampleRow } from '../../../src/backends/cpu/sample.js';
import { logSoftmax, topIndices } from '../../../src/runtime/sampling/processors.js';
import { FakeContext, type LogitsFn } from '../fakes.js';

export function deviceRow(raw: Float32Array, s: RowSampling): { id: number; lp?: RowLogprobs } {
  const row = Float32Array.from(raw);
  const p = s.penalties;
  if (p) {
    p.ids.forEach((t, i) => {
      let x = row[t] as number;
      if (p.repetition !== 1) x = x > 0 ? x / p.repetition : x * p.repetition;
      const c = p.outCounts[i] as number;
      if (c > 0) x = x - p.presence - p.frequency * c;
      row[t] = x;
    });
  }
  for (const t of s.suppress ?? []) row[t] = -Infinity;
  const id = sampleRow(row, s);
  if (s.logprobs === undefined) return { id };
  const lps = logSoftmax(raw);
  return { id, lp: { logprob: lps[id] as number, top: topIndices(lps, s.logprobs).map((t) => ({ tokenId: t, logprob: lps[t] as number })) } };
}

export class AsyncFakeContext extends FakeContext {
  readonly sampleOnDevice = true;
  readonly sampleExtrasOnDevice = true;
  /** The inputs of every enqueued step, in order. */
  readonly enqueued: StepInputs[] = [];
  /** Every row sampled "on the device", in order. */
  readonly rows: RowSampling[] = [];
  private inFlight = false;

  /** `log` (enqueues and completions) may be shared with other fakes, e.g. a logging tokenizer. */
  constructor(numBlocks: number, tokensPerBlock: number, logitsFn: LogitsFn, readonly log: string[] = []) {
    super(numBlocks, tokensPerBlock, logitsFn);
  }

  get numEnqueued(): number {
    return this.enqueued.length;
  }

  runAndSample(step: StepInputs, sampling: readonly RowSampling[]): SampledStep {
    const logits = this.run(step)['logits']!;
    const vocab = logits.shape[1] ?? 0;
    const data = logits.data as Float32Array;
    this.rows.push(...sampling);
    const out = sampling.map((s, r) => deviceRow(data.subarray(r * vocab, (r + 1) * vocab), s));
    return { tokenIds: Int32Array.from(out.map((o) => o.id)), logprobs: out.map((o) => o.lp) };
  }

  enqueueAndSample(step: StepInputs, sampling: readonly RowSampling[]): PendingStep<SampledStep> {
    expect(this.inFlight).toBe(false);
    this.inFlight = true;
    this.enqueued.push(step);
    const n = this.enqueued.length;
    const result = this.runAndSample(step, sampling); // reads the penalty views now, as a device upload would
    this.log.push(`enqueue ${n}`);
    return {
      done: () => new Promise((resolve) => setTimeout(() => {
        this.inFlight = false;
        this.log.push(`done ${n}`);
        resolve(result);
      }, 1)),
    };
  }
}
