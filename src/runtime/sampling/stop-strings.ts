/**
 * Stop strings over streamed text. Text arrives in chunks that may cut a stop string anywhere, so
 * the matcher holds back any tail that could still become a stop string and releases it once it
 * cannot. On a match, the text before the match is released and the rest (the stop string and
 * anything after it) is never emitted.
 */

export interface StopResult {
  /** Text that is now safe to emit. */
  readonly text: string;
  /** True when a stop string matched: the sample ends here. */
  readonly stopped: boolean;
}

export class StopStringMatcher {
  private held = '';

  constructor(private readonly stops: readonly string[]) {}

  /** Feeds newly detokenized text. */
  push(chunk: string): StopResult {
    if (this.stops.length === 0) return { text: chunk, stopped: false };
    const buf = this.held + chunk;
    let at = -1;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    if (at >= 0) {
      this.held = '';
      return { text: buf.slice(0, at), stopped: true };
    }
    const keep = this.longestStopPrefixSuffix(buf);
    this.held = buf.slice(buf.length - keep);
    return { text: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** At the end of the sample: whatever was held back is final text. */
  flush(): string {
    const out = this.held;
    this.held = '';
    return out;
  }

  /** Length of the longest suffix of `buf` that is a proper prefix of some stop string. */
  private longestStopPrefixSuffix(buf: string): number {
    let best = 0;
    for (const s of this.stops) {
      for (let len = Math.min(s.length - 1, buf.length); len > best; len--) {
        if (buf.endsWith(s.slice(0, len))) {
          best = len;
          break;
        }
      }
    }
    return best;
  }
}
