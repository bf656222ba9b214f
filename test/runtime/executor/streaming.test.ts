import { describe, expect, it } from 'vitest';
import type { RequestDelta } from '../../../src/runtime/api.js';
import { BYTE_VOCAB, EOS, createFakeExecutor, type LogitsFn } from '../fakes.js';

/** A model that, after a one-token prompt, writes `text`'s UTF-8 bytes one per token, then EOS. */
function scripted(text: string): LogitsFn {
  const bytes = [...new TextEncoder().encode(text)];
  return (context) => {
    const row = new Float32Array(BYTE_VOCAB);
    row[bytes[context.length - 1] ?? EOS] = 10;
    return row;
  };
}

async function collect(stream: AsyncIterable<RequestDelta>): Promise<RequestDelta[]> {
  const out: RequestDelta[] = [];
  for await (const d of stream) out.push(d);
  return out;
}

async function stream(text: string, params: Record<string, unknown> = {}) {
  const { executor } = createFakeExecutor({ numBlocks: 64, tokensPerBlock: 4, logitsFn: scripted(text) });
  const deltas = await collect(executor.submit({ requestId: 'a', promptTokenIds: [0], params: { maxNewTokens: 200, temperature: 0, ...params } }));
  const [final] = await executor.generate([{ promptTokenIds: [0], params: { maxNewTokens: 200, temperature: 0, ...params } }]);
  executor.close();
  return { deltas, streamed: deltas.map((d) => d.text).join(''), final: final!.outputs[0]! };
}

describe('streaming text', () => {
  it('never splits a multi-byte character; streamed text equals the final text (CJK, emoji)', async () => {
    const text = '你好，世界 👋🏽 naïve 🇯🇵!';
    const { deltas, streamed, final } = await stream(text);
    expect(streamed).toBe(text);
    expect(final.text).toBe(text);
    expect(final.finishReason).toBe('stop');
    expect(final.tokenIds).toHaveLength(new TextEncoder().encode(text).length + 1); // + EOS
    for (const d of deltas) expect(d.text).not.toContain('\uFFFD');
    // '你' is 3 bytes: its first two tokens stream no text, the third streams the character.
    expect(deltas.slice(0, 3).map((d) => d.text)).toEqual(['', '', '你']);
    expect(deltas.at(-1)!.finishReason).toBe('stop');
  });

  it('stops on a stop string spanning several tokens, without emitting it', async () => {
    const { deltas, streamed, final } = await stream('say STAR then STOP now', { stop: ['STOP'] });
    expect(final.text).toBe('say STAR then ');
    expect(streamed).toBe('say STAR then ');
    expect(final.finishReason).toBe('stop');
    // Generation ends on the token that completes the stop string ('P').
    expect(final.tokenIds).toHaveLength('say STAR then STOP'.length);
    // 'ST' of STAR is held back until 'A' shows it is not the stop string.
    const texts = deltas.map((d) => d.text);
    expect(texts.slice(4, 7)).toEqual(['', '', 'STA']);
  });

  it('matches multi-byte stop strings and the earliest of several', async () => {
    const a = await stream('你好，世界 again', { stop: ['世界', 'again'] });
    expect(a.final.text).toBe('你好，');
    expect(a.streamed).toBe('你好，');
    const b = await stream('abc abd', { stop: ['abd', 'c a'] });
    expect(b.final.text).toBe('ab');
  });

  it('releases held-back text at the end when no stop string completes', async () => {
    const { streamed, final } = await stream('the end ST', { stop: ['STOP'] });
    expect(final.text).toBe('the end ST');
    expect(streamed).toBe('the end ST');
    expect(final.finishReason).toBe('stop');
  });
});

/** EOS is always the most likely token; then token 7, then 8. */
const eosFirst: LogitsFn = () => {
  const row = new Float32Array(BYTE_VOCAB);
  row[EOS] = 5;
  row[7] = 4;
  row[8] = 3;
  return row;
};

describe('ending conditions', () => {
  async function run(params: Record<string, unknown>) {
    const { executor } = createFakeExecutor({ numBlocks: 64, tokensPerBlock: 4, logitsFn: eosFirst });
    const [r] = await executor.generate([{ promptTokenIds: [1, 2, 3], params: { temperature: 0, ...params } }]);
    executor.close();
    return r!.outputs[0]!;
  }

  it('EOS ends at once; minTokens suppresses it until then; ignoreEos runs to maxNewTokens', async () => {
    expect(await run({ maxNewTokens: 5 })).toMatchObject({ tokenIds: [EOS], text: '', finishReason: 'stop' });
    expect(await run({ maxNewTokens: 5, minTokens: 3 })).toMatchObject({ tokenIds: [7, 7, 7, EOS], finishReason: 'stop' });
    expect(await run({ maxNewTokens: 5, ignoreEos: true })).toMatchObject({ tokenIds: [EOS, EOS, EOS, EOS, EOS], finishReason: 'length' });
  });

  it('stop token ids end the sample and are suppressed before minTokens too', async () => {
    expect(await run({ maxNewTokens: 5, ignoreEos: true, stopTokenIds: [EOS] })).toMatchObject({ tokenIds: [EOS], finishReason: 'stop' });
    expect(await run({ maxNewTokens: 5, minTokens: 2, stopTokenIds: [7] })).toMatchObject({ tokenIds: [8, 8, EOS], finishReason: 'stop' });
    expect(await run({ maxNewTokens: 2, minTokens: 2 })).toMatchObject({ tokenIds: [7, 7], text: '\x07\x07', finishReason: 'length' });
  });
});
