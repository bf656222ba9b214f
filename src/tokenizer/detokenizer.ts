/**
 * Incremental detokenization with the prefix / read-offset method vLLM uses: decode a short window
 * of already-emitted tokens (the prefix) with and without the new tokens, and emit the difference
 * only once it does not end in U+FFFD (an incomplete UTF-8 sequence of a byte-level BPE). Decoding
 * a window rather than single tokens keeps decoders that strip or add leading spaces consistent.
 */
import type { IncrementalDetokenizer } from './types.js';

const REPLACEMENT = '\uFFFD';

export type DecodeFn = (ids: readonly number[]) => string;

export class WindowedDetokenizer implements IncrementalDetokenizer {
  private readonly ids: number[] = [];
  /** Start of the window decoded as context. */
  private prefixOffset = 0;
  /** End of the tokens whose text has been emitted. */
  private readOffset = 0;

  constructor(private readonly decode: DecodeFn) {}

  push(newIds: readonly number[]): string {
    if (newIds.length === 0) return '';
    this.ids.push(...newIds);
    const prefixText = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const fullText = this.decode(this.ids.slice(this.prefixOffset));
    if (fullText.length <= prefixText.length || fullText.endsWith(REPLACEMENT)) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return fullText.slice(prefixText.length);
  }

  flush(): string {
    if (this.readOffset === this.ids.length) return '';
    const prefixText = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const fullText = this.decode(this.ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return fullText.slice(prefixText.length);
  }
}
