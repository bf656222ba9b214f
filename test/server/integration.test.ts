/**
 * The real thing: the tiny embedded model built into an engine, served by `startServer` (engine
 * in a worker thread) on 127.0.0.1, spoken to with the official `openai` client and fetch.
 * Every generation is compared with `LLM.generate` on the same engine in this thread.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SamplingParams } from '../../src/runtime/api.js';
import { LLM } from '../../src/runtime/llm.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { listen, metricValue, parseSse, postJson, until } from './helpers.js';
import { buildTinyEngine, TINY_LIMITS, type TinyEngine } from './tiny-engine.js';

let tiny: TinyEngine;
let server: RunningServer;
let reference: LLM;
let openai: OpenAI;

beforeAll(async () => {
  tiny = await buildTinyEngine();
  server = await startServer({ engineDir: tiny.engineDir, port: 0, handleSignals: false, logger: false });
  reference = new LLM({ engineDir: tiny.engineDir });
  openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  await server.client.ready;
});
afterAll(async () => {
  await server?.shutdown();
  reference?.dispose();
  tiny?.cleanup();
});

async function expected(prompt: string | readonly number[], params: SamplingParams): Promise<string[]> {
  const request = typeof prompt === 'string' ? { prompt, params } : { promptTokenIds: prompt, params };
  const [result] = await reference.generate([request]);
  return (result?.outputs ?? []).map((o) => o.text);
}

describe('OpenAI API on the real engine', () => {
  it('greedy completions equal LLM.generate, streaming or not', async () => {
    const want = await expected('The kiln fires the clay', { maxNewTokens: 12, temperature: 0 });
    const r = await openai.completions.create({ model: 'tiny', prompt: 'The kiln fires the clay', max_tokens: 12, temperature: 0 });
    expect(r.choices.map((c) => c.text)).toEqual(want);
    expect(r.usage?.prompt_tokens).toBe(reference.tokenizer.encode('The kiln fires the clay').length);
    const stream = await openai.completions.create({ model: 'tiny', prompt: 'The kiln fires the clay', max_tokens: 12, temperature: 0, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect([text]).toEqual(want);
  });

  it('seeded sampling with n > 1 equals LLM.generate with the same seed', async () => {
    const params = { maxNewTokens: 10, temperature: 0.9, topP: 0.95, seed: 1234, n: 3 };
    const want = await expected('Once upon a time,', params);
    const r = await openai.completions.create({ model: 'tiny', prompt: 'Once upon a time,', max_tokens: 10, temperature: 0.9, top_p: 0.95, seed: 1234, n: 3 });
    expect(r.choices.map((c) => c.text)).toEqual(want);
    expect(new Set(want).size).toBeGreaterThan(1);
  });

  it('chat, streaming and not, equals LLM.generate on the rendered template', async () => {
    const messages = [{ role: 'user' as const, content: 'Hello there' }];
    const rendered = reference.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
    const ids = reference.tokenizer.encode(rendered, { addSpecialTokens: false });
    const want = await expected(ids, { maxNewTokens: 8, temperature: 0 });
    const r = await openai.chat.completions.create({ model: 'tiny', messages, max_tokens: 8, temperature: 0 });
    expect(r.choices.map((c) => c.message.content)).toEqual(want);
    expect(r.usage?.prompt_tokens).toBe(ids.length);
    const stream = await openai.chat.completions.create({ model: 'tiny', messages, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let content = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? '';
      usage = chunk.usage ?? usage;
    }
    expect([content]).toEqual(want);
    expect(usage?.completion_tokens).toBe(r.usage?.completion_tokens);
  });

  it('stop strings end the text before the match, as LLM.generate does', async () => {
    const [full] = await expected('The kiln fires the clay', { maxNewTokens: 20, temperature: 0, ignoreEos: true });
    const stop = (full as string).slice(6, 8);
    const want = await expected('The kiln fires the clay', { maxNewTokens: 20, temperature: 0, ignoreEos: true, stop: [stop] });
    const r = await openai.completions.create({ model: 'tiny', prompt: 'The kiln fires the clay', max_tokens: 20, temperature: 0, stop, ignore_eos: true } as OpenAI.CompletionCreateParamsNonStreaming);
    expect(r.choices[0]?.text).toBe(want[0]);
    expect(r.choices[0]?.finish_reason).toBe('stop');
    expect((want[0] as string).length).toBeLessThanOrEqual((full as string).indexOf(stop));
  });

  it('logprobs match the engine (completions and chat)', async () => {
    const [result] = await reference.generate([{ prompt: 'abc', params: { maxNewTokens: 4, temperature: 0, ignoreEos: true, logprobs: 2 } }]);
    const lps = result?.outputs[0]?.logprobs ?? [];
    const r = await openai.completions.create({ model: 'tiny', prompt: 'abc', max_tokens: 4, temperature: 0, logprobs: 2, ignore_eos: true } as OpenAI.CompletionCreateParamsNonStreaming);
    const got = r.choices[0]?.logprobs;
    expect(got?.tokens).toEqual(lps.map((lp) => reference.tokenizer.decode([lp.tokenId], { skipSpecialTokens: false })));
    // Same engine, same arithmetic in another thread: equal to float32 rounding.
    got?.token_logprobs?.forEach((v, i) => expect(v).toBeCloseTo(lps[i]?.logprob ?? NaN, 5));
    // OpenAI's completions format keys alternatives by text: two byte-fragment tokens that both
    // decode to U+FFFD share a key, so the expectation is built the same way.
    const text = (id: number): string => reference.tokenizer.decode([id], { skipSpecialTokens: false });
    expect(got?.top_logprobs?.map((t) => Object.keys(t))).toEqual(lps.map((lp) => Object.keys(Object.fromEntries(lp.top.map((t) => [text(t.tokenId), 0])))));
    expect(lps.every((lp) => lp.top.length === 2)).toBe(true);
    const chat = await openai.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'abc' }], max_tokens: 3, logprobs: true, top_logprobs: 3 });
    expect(chat.choices[0]?.logprobs?.content?.every((c) => c.top_logprobs.length === 3)).toBe(true);
  });
});

describe('Triton and faults on the real engine', () => {
  it('Triton generate and generate_stream equal LLM.generate', async () => {
    const [want] = await expected('Hello kiln', { maxNewTokens: 9, temperature: 0 });
    const r = await postJson(`${server.url}/v2/models/tiny/generate`, { text_input: 'Hello kiln', max_tokens: 9, temperature: 0, exclude_input_in_output: true });
    expect(r.body).toEqual({ model_name: 'tiny', model_version: '1', text_output: want });
    const res = await fetch(`${server.url}/v2/models/tiny/generate_stream`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text_input: 'Hello kiln', max_tokens: 9, temperature: 0 }),
    });
    expect((parseSse(await res.text()) as { text_output: string }[]).map((e) => e.text_output).join('')).toBe(want);
    expect((await fetch(`${server.url}/v2/health/ready`)).status).toBe(200);
  });

  it('limits come from the engine and are stated', async () => {
    const long = await postJson(`${server.url}/v1/completions`, { model: 'tiny', prompt: Array.from({ length: 65 }, () => 5) });
    expect(long.status).toBe(400);
    expect((long.body.error as { message: string }).message).toContain(`accepts at most ${TINY_LIMITS.maxInputLen}`);
    const many = await postJson(`${server.url}/v1/completions`, { model: 'tiny', prompt: 'x', max_tokens: 33 });
    expect(many.status).toBe(400);
    expect((many.body.error as { message: string }).message).toContain(`at most ${TINY_LIMITS.maxOutputLen} tokens`);
  });

  it('a client that disconnects mid-stream frees its KV blocks', async () => {
    const abort = new AbortController();
    const res = await fetch(`${server.url}/v1/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: abort.signal,
      body: JSON.stringify({ model: 'tiny', prompt: 'a long story', max_tokens: 32, n: 4, ignore_eos: true, stream: true }),
    });
    await res.body!.getReader().read();
    expect((await server.client.stats()).kv.numUsed).toBeGreaterThan(0);
    abort.abort();
    await until(async () => (await server.client.stats()).kv.numUsed === 0 && server.app.kiln.admission.numInFlight === 0);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metricValue(metrics, 'kiln_kv_blocks_used')).toBe(0);
    expect(metricValue(metrics, 'kiln_running_requests')).toBe(0);
  });

  it('bad input gets OpenAI-shaped 400s and the engine keeps serving', async () => {
    const url = `${server.url}/v1/completions`;
    const cases: [unknown, string | null, RegExp][] = [
      ['{"model":"tiny","prompt":', null, /not valid JSON/],
      [{ model: 'tiny', prompt: 'x', max_tokens: '5' }, 'max_tokens', /expected number/],
      [{ model: 'tiny', prompt: 'x', max_tokens: -3 }, 'max_tokens', />=1/],
      [{ model: 'tiny', prompt: 'x', frobnicate: true }, 'frobnicate', /Unrecognized request argument supplied: frobnicate/],
      [{ model: 'tiny', prompt: '' }, 'prompt', /must not be empty/],
    ];
    for (const [body, param, message] of cases) {
      const r = await postJson(url, body);
      expect(r.status).toBe(400);
      expect(r.body.error).toMatchObject({ type: 'invalid_request_error', param });
      expect((r.body.error as { message: string }).message).toMatch(message);
    }
    expect((await postJson(url, { model: 'tiny', prompt: 'still fine', max_tokens: 2 })).status).toBe(200);
  });

  it('queue overflow answers 429 with Retry-After (a second app on the same engine, maxQueue 2)', async () => {
    const small = await listen({ client: server.client, tokenizer: reference.tokenizer, modelName: 'tiny', maxQueue: 2 });
    try {
      const body = { model: 'tiny', prompt: 'queue', max_tokens: 32, ignore_eos: true };
      const admitted = [postJson(`${small.url}/v1/completions`, body), postJson(`${small.url}/v1/completions`, body)];
      await until(() => small.app.kiln.admission.numInFlight === 2);
      const refused = await postJson(`${small.url}/v1/completions`, body);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.body.error).toMatchObject({ type: 'rate_limit_error', code: 'queue_full' });
      expect((await Promise.all(admitted)).map((r) => r.status)).toEqual([200, 200]);
    } finally {
      await small.close();
    }
  });
});
