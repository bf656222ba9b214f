/**
 * A deterministic fake engine + char tokenizer for the server's unit tests. Token id = char
 * code; sample `index` of a prompt generates letters from (sum of prompt ids + index + step),
 * one token per macrotask, so concurrent streams interleave like a real batch.
 */
import { RequestError } from '../../src/errors/index.js';
import type { ExecutorStats, RequestDelta, TokenLogprob } from '../../src/runtime/api.js';
import type { EngineCore, EngineRequest, ModelInfo } from '../../src/server/engine-client.js';
import type { ChatMessage, TextTokenizer } from '../../src/tokenizer/types.js';

export const FAKE_INFO: ModelInfo = { name: 'fake', maxInputLen: 64, maxOutputLen: 32, vocabSize: 256, hasChatTemplate: true };

export function fakeTokenizer(hasTemplate = true): TextTokenizer {
  const encode = (text: string): number[] => [...text].map((c) => c.charCodeAt(0) % 256);
  const decode = (ids: readonly number[]): string => String.fromCharCode(...ids);
  return {
    vocabSize: 256, bosTokenId: null, eosTokenIds: [0],
    encode, decode,
    hasChatTemplate: () => hasTemplate,
    applyChatTemplate: (messages: readonly ChatMessage[]) => `${messages.map((m) => `${m.role}:${m.content}`).join('|')}|assistant:`,
    createDetokenizer: () => ({ push: decode, flush: () => '' }),
  };
}

/** The text the fake generates for a prompt, sample and length (what tests expect). */
export function fakeText(promptIds: readonly number[], index: number, numTokens: number): string {
  const sum = promptIds.reduce((a, b) => a + b, 0);
  return Array.from({ length: numTokens }, (_, step) => String.fromCharCode(97 + ((sum + index + step) % 26))).join('');
}

export class FakeEngine implements EngineCore {
  numBlocksUsed = 0;
  readonly cancelled = new Set<string>();
  readonly submitted: EngineRequest[] = [];
  private readonly live = new Set<string>();
  /** Milliseconds between tokens (0: next macrotask). */
  tokenDelayMs = 0;
  /** Requests whose prompt contains '%' fail mid-stream after this many tokens. */
  failAfter = 2;

  async *submit(request: EngineRequest): AsyncIterable<RequestDelta> {
    const ids = request.promptTokenIds ?? [];
    if (ids.includes(33)) throw new RequestError("the fake engine refuses '!'", 'prompt'); // '!'
    this.submitted.push(request);
    const p = request.params ?? {};
    const n = p.n ?? 1;
    const maxNew = p.maxNewTokens ?? 16;
    this.live.add(request.requestId);
    this.numBlocksUsed += n;
    try {
      const texts = Array.from({ length: n }, (_, i) => fakeText(ids, i, maxNew));
      const done = new Array<boolean>(n).fill(false);
      for (let step = 0; step < maxNew && done.includes(false); step++) {
        await new Promise((r) => setTimeout(r, this.tokenDelayMs));
        if (ids.includes(37) && step >= this.failAfter) throw new Error('fake engine exploded');
        const cancelled = this.cancelled.has(request.requestId);
        for (let i = 0; i < n; i++) {
          if (done[i]) continue;
          const d: RequestDelta = cancelled
            ? { requestId: request.requestId, index: i, tokenIds: [], text: '', finishReason: 'cancelled' }
            : this.delta(request, i, texts[i] as string, step, maxNew);
          if (d.finishReason) done[i] = true;
          yield d;
        }
      }
    } finally {
      this.live.delete(request.requestId);
      this.numBlocksUsed -= n;
    }
  }

  private delta(request: EngineRequest, index: number, text: string, step: number, maxNew: number): RequestDelta {
    const ch = text[step] as string;
    const stop = request.params?.stop?.find((s) => text.slice(0, step + 1).endsWith(s));
    const id = ch.charCodeAt(0);
    const logprobs: TokenLogprob[] | undefined = request.params?.logprobs !== undefined
      ? [{ tokenId: id, logprob: -0.5, top: Array.from({ length: request.params.logprobs }, (_, k) => ({ tokenId: id + k, logprob: -0.5 - k })) }]
      : undefined;
    const last = step === maxNew - 1 || stop !== undefined;
    return {
      requestId: request.requestId, index, tokenIds: [id], text: stop ? '' : ch,
      ...(logprobs ? { logprobs } : {}),
      ...(last ? { finishReason: stop ? 'stop' : 'length' } : {}),
    };
  }

  cancel(requestId: string): void {
    if (this.live.has(requestId)) this.cancelled.add(requestId);
  }

  stats(): ExecutorStats {
    return {
      numWaiting: 0, numRunning: this.live.size, numPreemptions: 0, numSteps: 0, numPromptTokens: 0, numGeneratedTokens: 0,
      kv: { numBlocks: 100, numUsed: this.numBlocksUsed, numFree: 100 - this.numBlocksUsed, numCached: 0, tokensPerBlock: 16, prefixHitRate: 0.25, fragmentation: 0 },
    };
  }
}
