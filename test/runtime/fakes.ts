/**
 * Test doubles for the runtime. FakeContext is a model that is sensitive to paging bugs: it
 * stores every written token id at its KV slot (slotMapping) and computes each logits row from the
 * whole context read back through the block table, so a wrong block table, a missed copy-on-write
 * or a wrong position changes the output. ByteTokenizer: one token per UTF-8 byte, EOS = 256.
 */
import type { ExecutionContext, HostTensor, StepInputs } from '../../src/backends/types.js';
import type { IncrementalDetokenizer, TextTokenizer } from '../../src/tokenizer/types.js';
import { Executor, type ExecutorSettings } from '../../src/runtime/executor/executor.js';
import { mulberry32 } from '../../src/util/prng.js';

export const EOS = 256;
export const BYTE_VOCAB = 257;

/** Logits for the next token after `context` (prompt + generated so far). */
export type LogitsFn = (context: readonly number[]) => Float32Array;

function fnv(tokens: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const t of tokens) {
    h ^= t & 0xffff;
    h = Math.imul(h, 0x01000193);
    h ^= t >>> 16;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Pseudo-random logits in [0, 8) that depend on every token of the context and its length. */
export function hashLogits(vocab: number): LogitsFn {
  return (context) => {
    const h = fnv(context);
    return Float32Array.from({ length: vocab }, (_, v) => (mix(h ^ Math.imul(v + 1, 0x9e3779b1)) / 0x100000000) * 8);
  };
}

export class FakeContext implements ExecutionContext {
  readonly slots: Int32Array;
  numRuns = 0;
  /** Context seen by each logits row of the last step, for assertions. */
  lastContexts: number[][] = [];

  constructor(readonly numBlocks: number, readonly tokensPerBlock: number, readonly logitsFn: LogitsFn) {
    this.slots = new Int32Array(numBlocks * tokensPerBlock).fill(-1);
  }

  run(step: StepInputs): Record<string, HostTensor> {
    this.numRuns++;
    const bs = this.tokensPerBlock;
    for (const [src, dst] of step.blockCopies ?? []) this.slots.copyWithin(dst * bs, src * bs, (src + 1) * bs);
    const ids = step.tensors['input_ids']?.data as Int32Array;
    const positions = step.tensors['positions']?.data as Int32Array;
    const logitsIdx = step.tensors['logits_indices']?.data as Int32Array;
    const att = step.attention;
    if (!att) throw new Error('FakeContext: no attention metadata');
    ids.forEach((id, i) => (this.slots[att.slotMapping[i] as number] = id));
    const rows: Float32Array[] = [];
    this.lastContexts = [];
    for (const idx of logitsIdx) {
      const seq = att.seqs.find((s) => idx >= s.queryStart && idx < s.queryStart + s.numQueryTokens);
      if (!seq) throw new Error(`FakeContext: logits index ${idx} is in no sequence`);
      const context: number[] = [];
      for (let p = 0; p < seq.contextLen; p++) {
        const block = seq.blockTable[Math.floor(p / bs)];
        if (block === undefined) throw new Error(`FakeContext: no block for position ${p}`);
        const tok = this.slots[block * bs + (p % bs)] as number;
        if (tok < 0) throw new Error(`FakeContext: slot of position ${p} was never written`);
        context.push(tok);
      }
      // A wrong position for the row's token shifts the context the model sees.
      const pos = positions[idx] as number;
      rows.push(this.logitsFn(context.slice(0, pos + 1)));
      this.lastContexts.push(context);
    }
    const vocab = rows[0]?.length ?? 0;
    const data = new Float32Array(rows.length * vocab);
    rows.forEach((r, i) => data.set(r, i * vocab));
    return { logits: { dtype: 'float32', shape: [rows.length, vocab], data } };
  }

  memoryUsage(): { weights: number; kvCache: number; activations: number } {
    return { weights: 0, kvCache: this.slots.byteLength, activations: 0 };
  }

  dispose(): void {}
}

class ByteDetokenizer implements IncrementalDetokenizer {
  private readonly decoder = new TextDecoder('utf-8');
  push(ids: readonly number[]): string {
    return this.decoder.decode(Uint8Array.from(ids.filter((t) => t < 256)), { stream: true });
  }
  flush(): string {
    return this.decoder.decode();
  }
}

export const byteTokenizer: TextTokenizer = {
  vocabSize: BYTE_VOCAB,
  bosTokenId: null,
  eosTokenIds: [EOS],
  encode: (text) => [...new TextEncoder().encode(text)],
  decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids.filter((t) => t < 256))),
  hasChatTemplate: () => false,
  applyChatTemplate: () => {
    throw new Error('no chat template');
  },
  createDetokenizer: () => new ByteDetokenizer(),
};

export interface FakeSetup {
  readonly executor: Executor;
  readonly context: FakeContext;
}

export function createFakeExecutor(opts: {
  numBlocks: number;
  tokensPerBlock: number;
  logitsFn?: LogitsFn;
  settings?: Partial<ExecutorSettings>;
  enablePrefixCaching?: boolean;
}): FakeSetup {
  const context = new FakeContext(opts.numBlocks, opts.tokensPerBlock, opts.logitsFn ?? hashLogits(BYTE_VOCAB));
  const settings: ExecutorSettings = { maxBatchSize: 8, maxNumTokens: 64, maxInputLen: 256, maxOutputLen: 256, ...opts.settings };
  const kv = { numBlocks: opts.numBlocks, tokensPerBlock: opts.tokensPerBlock, enablePrefixCaching: opts.enablePrefixCaching ?? true };
  return { executor: new Executor({ context, tokenizer: byteTokenizer, settings, kv }), context };
}

/** A small deterministic PRNG for test data (mulberry32). */
export const testRng = mulberry32;

/** Resolves after `n` turns of the event loop (the executor runs about one step per turn). */
export async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}
