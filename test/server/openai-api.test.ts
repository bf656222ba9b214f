/**
 * The OpenAI routes against the fake engine, through the official `openai` client: formats,
 * streaming, n, stop, logprobs, usage. (The real-engine versions are in integration.test.ts.)
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeText, fakeTokenizer } from './fake-engine.js';
import { listenFake, parseSse, type FakeServer } from './helpers.js';

const tok = fakeTokenizer();
let server: FakeServer;
let openai: OpenAI;

beforeAll(async () => {
  server = await listenFake();
  openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(async () => server.close());

describe('/v1/completions', () => {
  it('answers a prompt with the engine text and usage', async () => {
    const r = await openai.completions.create({ model: 'fake', prompt: 'hello', max_tokens: 5 });
    expect(r.object).toBe('text_completion');
    expect(r.model).toBe('fake');
    expect(r.choices).toEqual([{ index: 0, text: fakeText(tok.encode('hello'), 0, 5), logprobs: null, finish_reason: 'length' }]);
    expect(r.usage).toEqual({ prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 });
    expect(server.engine.submitted.at(-1)?.params).toEqual({ maxNewTokens: 5 });
  });

  it('serves n samples of each of several prompts, indexed prompt-major', async () => {
    const r = await openai.completions.create({ model: 'fake', prompt: ['ab', 'xyz'], n: 2, max_tokens: 3 });
    expect(r.choices.map((c) => [c.index, c.text])).toEqual([
      [0, fakeText(tok.encode('ab'), 0, 3)], [1, fakeText(tok.encode('ab'), 1, 3)],
      [2, fakeText(tok.encode('xyz'), 0, 3)], [3, fakeText(tok.encode('xyz'), 1, 3)],
    ]);
    expect(r.usage).toEqual({ prompt_tokens: 5, completion_tokens: 12, total_tokens: 17 });
  });

  it('takes token-id prompts and maps sampling fields to SamplingParams', async () => {
    const r = await openai.completions.create({
      model: 'fake', prompt: [104, 105], max_tokens: 4, temperature: 0.5, top_p: 0.9, seed: 7, stop: ['q', ''],
      presence_penalty: 0.1, frequency_penalty: 0.2,
      // @ts-expect-error extras the openai types do not know
      top_k: 5, min_p: 0.05, ignore_eos: true, repetition_penalty: 1.1, min_tokens: 1,
    });
    expect(r.choices[0]?.text).toBe(fakeText([104, 105], 0, 4));
    expect(server.engine.submitted.at(-1)?.params).toEqual({
      maxNewTokens: 4, minTokens: 1, temperature: 0.5, topP: 0.9, topK: 5, minP: 0.05, repetitionPenalty: 1.1,
      presencePenalty: 0.1, frequencyPenalty: 0.2, seed: 7, stop: ['q'], ignoreEos: true,
    });
    expect(server.engine.submitted.at(-1)?.promptTokenIds).toEqual([104, 105]);
  });

  it('stops at a stop string with finish_reason stop', async () => {
    const full = fakeText(tok.encode('hello'), 0, 10);
    const stopChar = full[4] as string;
    const r = await openai.completions.create({ model: 'fake', prompt: 'hello', max_tokens: 10, stop: stopChar });
    expect(r.choices[0]?.text).toBe(full.slice(0, full.indexOf(stopChar)));
    expect(r.choices[0]?.finish_reason).toBe('stop');
  });

  it('returns logprobs in the completions shape', async () => {
    const r = await openai.completions.create({ model: 'fake', prompt: 'hi', max_tokens: 2, logprobs: 2 });
    const text = fakeText(tok.encode('hi'), 0, 2);
    const next = (c: string): string => String.fromCharCode(c.charCodeAt(0) + 1);
    expect(r.choices[0]?.logprobs).toEqual({
      tokens: [...text], token_logprobs: [-0.5, -0.5],
      top_logprobs: [...text].map((c) => ({ [c]: -0.5, [next(c)]: -1.5 })), text_offset: [0, 1],
    });
  });

  it('streams chunks ending in [DONE], with include_usage', async () => {
    const stream = await openai.completions.create({
      model: 'fake', prompt: 'hello', max_tokens: 6, n: 2, stream: true, stream_options: { include_usage: true },
    });
    const texts = ['', ''];
    let usage: unknown = null;
    let finishes = 0;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        texts[c.index] += c.text;
        if (c.finish_reason) finishes++;
      }
    }
    expect(texts).toEqual([fakeText(tok.encode('hello'), 0, 6), fakeText(tok.encode('hello'), 1, 6)]);
    expect(finishes).toBe(2);
    expect(usage).toEqual({ prompt_tokens: 5, completion_tokens: 12, total_tokens: 17 });
    const raw = await fetch(`${server.url}/v1/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fake', prompt: 'x', max_tokens: 2, stream: true }),
    });
    expect(raw.headers.get('content-type')).toContain('text/event-stream');
    const events = parseSse(await raw.text());
    expect(events.at(-1)).toBe('[DONE]');
    expect(events).toHaveLength(3);
  });

  it('echoes the prompt when asked', async () => {
    const r = await openai.completions.create({ model: 'fake', prompt: 'abc', max_tokens: 2, echo: true });
    expect(r.choices[0]?.text).toBe(`abc${fakeText(tok.encode('abc'), 0, 2)}`);
  });
});

describe('/v1/chat/completions', () => {
  const messages = [{ role: 'system' as const, content: 'be brief' }, { role: 'user' as const, content: 'hi' }];
  const prompt = tok.encode('system:be brief|user:hi|assistant:');

  it('renders the chat template and answers as the assistant', async () => {
    const r = await openai.chat.completions.create({ model: 'fake', messages, max_completion_tokens: 4 });
    expect(r.object).toBe('chat.completion');
    expect(r.choices).toEqual([{ index: 0, message: { role: 'assistant', content: fakeText(prompt, 0, 4) }, logprobs: null, finish_reason: 'length' }]);
    expect(r.usage?.prompt_tokens).toBe(prompt.length);
    expect(server.engine.submitted.at(-1)?.promptTokenIds).toEqual(prompt);
  });

  it('streams role then content deltas, n > 1, and logprobs', async () => {
    const stream = await openai.chat.completions.create({
      model: 'fake', messages, max_tokens: 3, n: 2, stream: true, logprobs: true, top_logprobs: 1,
    });
    const content = ['', ''];
    const roles: string[] = [];
    const lpTokens: string[] = [];
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        if (c.delta.role) roles.push(c.delta.role);
        content[c.index] += c.delta.content ?? '';
        if (c.index === 0) for (const lp of c.logprobs?.content ?? []) lpTokens.push(lp.token);
      }
    }
    expect(roles).toEqual(['assistant', 'assistant']);
    expect(content).toEqual([fakeText(prompt, 0, 3), fakeText(prompt, 1, 3)]);
    expect(lpTokens.join('')).toBe(fakeText(prompt, 0, 3));
  });

  it('returns chat logprobs with bytes and top_logprobs', async () => {
    const r = await openai.chat.completions.create({ model: 'fake', messages, max_tokens: 1, logprobs: true, top_logprobs: 2 });
    const c = fakeText(prompt, 0, 1);
    const next = String.fromCharCode(c.charCodeAt(0) + 1);
    expect(r.choices[0]?.logprobs?.content).toEqual([{
      token: c, logprob: -0.5, bytes: [c.charCodeAt(0)],
      top_logprobs: [{ token: c, logprob: -0.5, bytes: [c.charCodeAt(0)] }, { token: next, logprob: -1.5, bytes: [next.charCodeAt(0)] }],
    }]);
  });

  it('lists the model', async () => {
    const models = await openai.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['fake']);
    expect(models.data[0]).toMatchObject({ object: 'model', owned_by: 'kiln', max_model_len: 96 });
  });
});
