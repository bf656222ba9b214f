/**
 * The distinct tokens one sample has seen, with their counts in its generated tokens, kept up to
 * date token by token, so a step's penalties for a backend that applies them (RowPenalties) cost
 * O(distinct tokens) to hand over instead of a pass over prompt + output.
 */
import type { RowPenalties } from '../../backends/types.js';
import type { SamplingConfig } from './params.js';

export class PenaltyTracker {
  private readonly index = new Map<number, number>();
  private ids: Int32Array = new Int32Array(64);
  private counts: Int32Array = new Int32Array(64);
  private size = 0;

  /**
   * Prompt tokens count only for the repetition penalty (HF's definition: prompt ∪ output);
   * presence and frequency count generated tokens only (OpenAI's).
   */
  constructor(private readonly cfg: SamplingConfig, promptTokens: readonly number[]) {
    if (cfg.repetitionPenalty !== 1) for (const t of promptTokens) this.slot(t);
  }

  /** True when the config has any penalty (otherwise no tracker is needed). */
  static isNeeded(cfg: SamplingConfig): boolean {
    return cfg.repetitionPenalty !== 1 || cfg.presencePenalty !== 0 || cfg.frequencyPenalty !== 0;
  }

  /** Records a generated token. */
  add(tokenId: number): void {
    const i = this.slot(tokenId);
    this.counts[i] = (this.counts[i] as number) + 1;
  }

  /** The row's penalties now (views: valid until the next `add`). */
  penalties(): RowPenalties {
    return {
      repetition: this.cfg.repetitionPenalty,
      presence: this.cfg.presencePenalty,
      frequency: this.cfg.frequencyPenalty,
      ids: this.ids.subarray(0, this.size),
      outCounts: this.counts.subarray(0, this.size),
    };
  }

  private slot(tokenId: number): number {
    const at = this.index.get(tokenId);
    if (at !== undefined) return at;
    if (this.size === this.ids.length) {
      const grow = (a: Int32Array): Int32Array => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.ids = grow(this.ids);
      this.counts = grow(this.counts);
    }
    this.ids[this.size] = tokenId;
    this.counts[this.size] = 0;
    this.index.set(tokenId, this.size);
    return this.size++;
  }
}
