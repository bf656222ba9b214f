/** Bad input and overload against the fake engine: status codes, OpenAI error bodies, recovery. */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessEngineClient } from '../../src/server/engine-client.js';
import { FAKE_INFO, FakeEngine, fakeText, fakeTokenizer } from './fake-engine.js';
import { listen, listenFake, parseSse, postJson, until, type FakeServer } from './helpers.js';

let server: FakeServer;
const completions = (): string => `${server.url}/v1/completions`;

beforeAll(async () => {
  server = await listenFake({ maxQueue: 4, maxBodyBytes: 10_000 });
});
afterAll(async () => server.close());

async function expectError(body: unknown, status: number, param: string | null, message: RegExp, url = completions()): Promise<void> {
  const r = await postJson(url, body);
  expect(r.status).toBe(status);
  const error = r.body.error as Record<string, unknown>;
  expect(Object.keys(error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(error.param).toBe(param);
  expect(error.message).toMatch(message);
}

describe('400 invalid requests', () => {
  it('malformed JSON', async () => {
    await expectError('{"model": "fake", "prompt": ', 400, null, /not valid JSON/);
  });
  it('wrong types name the field and what came', async () => {
    await expectError({ model: 'fake', prompt: 'x', max_tokens: 'ten' }, 400, 'max_tokens', /expected number.*got string/);
    await expectError({ model: 'fake', prompt: 'x', temperature: 3 }, 400, 'temperature', /<=2/);
    await expectError({ model: 'fake', prompt: 42 }, 400, 'prompt', /a list of token ids/);
    await expectError({ model: 'fake', messages: 'hi' }, 400, 'messages', /expected array/, `${server.url}/v1/chat/completions`);
    await expectError('[1,2]', 400, null, /JSON object/);
  });
  it('negative and too-large max_tokens, saying the limit', async () => {
    await expectError({ model: 'fake', prompt: 'x', max_tokens: -1 }, 400, 'max_tokens', />=1/);
    await expectError({ model: 'fake', prompt: 'x', max_tokens: 1e9 }, 400, 'max_tokens', /at most 32 tokens/);
    await expectError({ model: 'fake', messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 33 }, 400,
      'max_completion_tokens', /at most 32/, `${server.url}/v1/chat/completions`);
  });
  it('unknown fields, as OpenAI rejects them', async () => {
    await expectError({ model: 'fake', prompt: 'x', foo: 1 }, 400, 'foo', /Unrecognized request argument supplied: foo/);
    await expectError({ model: 'fake', prompt: 'x', stream: true, stream_options: { bar: true } }, 400, 'bar', /bar in 'stream_options'/);
  });
  it('accepts harmless extras and refuses unsupported features by name', async () => {
    const ok = await postJson(completions(), { model: 'fake', prompt: 'x', max_tokens: 1, user: 'u', logit_bias: {}, best_of: 1 });
    expect(ok.status).toBe(200);
    await expectError({ model: 'fake', prompt: 'x', logit_bias: { 5: 10 } }, 400, 'logit_bias', /not supported/);
    await expectError({ model: 'fake', prompt: 'x', suffix: 's' }, 400, 'suffix', /not supported/);
    const chat = `${server.url}/v1/chat/completions`;
    await expectError({ model: 'fake', messages: [{ role: 'user', content: 'x' }], tools: [{}] }, 400, 'tools', /not supported/, chat);
    await expectError({ model: 'fake', messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }, 400,
      'messages.0.content.0.type', /text parts only/, chat);
  });
  it('empty prompt and prompt over the limit (saying it)', async () => {
    await expectError({ model: 'fake', prompt: '' }, 400, 'prompt', /must not be empty/);
    await expectError({ model: 'fake', prompt: [] }, 400, 'prompt', /list of strings/);
    await expectError({ model: 'fake', prompt: 'y'.repeat(65) }, 400, 'prompt', /65 tokens but this engine accepts at most 64/);
    await expectError({ model: 'fake', prompt: [300] }, 400, 'prompt', /out of range: the vocabulary has 256/);
  });
  it('a RequestError from the engine is a 400', async () => {
    await expectError({ model: 'fake', prompt: 'no!' }, 400, 'prompt', /refuses/);
  });
});

describe('other statuses', () => {
  it('404 for an unknown model or route, 413 for a large body', async () => {
    await expectError({ model: 'gpt-9', prompt: 'x' }, 404, 'model', /'gpt-9' does not exist; this server serves 'fake'/);
    const r = await fetch(`${server.url}/v1/nothing`);
    expect(r.status).toBe(404);
    expect(((await r.json()) as { error: { message: string } }).error.message).toBe('Unknown route: GET /v1/nothing.');
    await expectError({ model: 'fake', prompt: 'x'.repeat(20_000) }, 413, null, /larger than the server's limit of 10000 bytes/);
  });

  it('401 without or with a wrong API key; health stays open', async () => {
    const engine = new FakeEngine();
    const guarded = await listen({ client: new InProcessEngineClient(engine, FAKE_INFO), tokenizer: fakeTokenizer(), modelName: 'fake', apiKey: 'sekrit' });
    try {
      expect((await postJson(`${guarded.url}/v1/completions`, { model: 'fake', prompt: 'x' })).status).toBe(401);
      const wrong = await postJson(`${guarded.url}/v1/completions`, { model: 'fake', prompt: 'x' }, { authorization: 'Bearer nope' });
      expect(wrong.status).toBe(401);
      expect((wrong.body.error as { type: string }).type).toBe('authentication_error');
      const client = new OpenAI({ baseURL: `${guarded.url}/v1`, apiKey: 'sekrit', maxRetries: 0 });
      expect((await client.completions.create({ model: 'fake', prompt: 'x', max_tokens: 1 })).choices).toHaveLength(1);
      expect((await fetch(`${guarded.url}/health`)).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });

  it('429 with Retry-After once maxQueue requests are admitted, then admits again', async () => {
    server.engine.tokenDelayMs = 20;
    try {
      const slow = Array.from({ length: 4 }, () => postJson(completions(), { model: 'fake', prompt: 'x', max_tokens: 5 }));
      await until(() => server.app.kiln.admission.numInFlight === 4);
      const refused = await postJson(completions(), { model: 'fake', prompt: 'x', max_tokens: 1 });
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect((refused.body.error as { type: string }).type).toBe('rate_limit_error');
      expect((await Promise.all(slow)).map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect((await postJson(completions(), { model: 'fake', prompt: 'x', max_tokens: 1 })).status).toBe(200);
    } finally {
      server.engine.tokenDelayMs = 0;
    }
  });

  it('500 for an engine failure; a stream that fails mid-way ends with an error event; others are undisturbed', async () => {
    server.engine.tokenDelayMs = 5;
    try {
      const bystander = postJson(completions(), { model: 'fake', prompt: 'ok', max_tokens: 12 });
      await until(() => server.app.kiln.admission.numInFlight === 1);
      const failed = await postJson(completions(), { model: 'fake', prompt: '50%', max_tokens: 5 });
      expect(failed.status).toBe(500);
      expect((failed.body.error as { message: string }).message).toMatch(/fake engine exploded/);
      const res = await fetch(completions(), {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'fake', prompt: '50%', max_tokens: 5, stream: true }),
      });
      expect(res.status).toBe(200);
      const events = parseSse(await res.text());
      expect(events).toHaveLength(4);
      expect((events[2] as { error: { message: string } }).error.message).toMatch(/fake engine exploded/);
      expect(events[3]).toBe('[DONE]');
      const ok = await bystander;
      expect(ok.status).toBe(200);
      expect((ok.body.choices as { text: string }[])[0]?.text).toBe(fakeText(fakeTokenizer().encode('ok'), 0, 12));
    } finally {
      server.engine.tokenDelayMs = 0;
    }
    expect(server.app.kiln.admission.numInFlight).toBe(0);
  });

  it('a client that disconnects mid-stream cancels its request and frees its blocks', async () => {
    server.engine.tokenDelayMs = 10;
    try {
      const abort = new AbortController();
      const res = await fetch(completions(), {
        method: 'POST', headers: { 'content-type': 'application/json' }, signal: abort.signal,
        body: JSON.stringify({ model: 'fake', prompt: 'bye', max_tokens: 30, n: 2, stream: true }),
      });
      const reader = res.body!.getReader();
      await reader.read();
      expect(server.engine.numBlocksUsed).toBe(2);
      abort.abort();
      await until(() => server.engine.numBlocksUsed === 0 && server.app.kiln.admission.numInFlight === 0);
      const id = server.engine.submitted.at(-1)?.requestId as string;
      expect(server.engine.cancelled.has(id)).toBe(true);
    } finally {
      server.engine.tokenDelayMs = 0;
    }
  });

  it('a non-streaming request whose socket closes is cancelled too', async () => {
    server.engine.tokenDelayMs = 10;
    try {
      const abort = new AbortController();
      const pending = fetch(completions(), {
        method: 'POST', headers: { 'content-type': 'application/json' }, signal: abort.signal,
        body: JSON.stringify({ model: 'fake', prompt: 'bye', max_tokens: 30 }),
      }).catch((e: unknown) => e);
      await until(() => server.engine.numBlocksUsed === 1);
      abort.abort();
      await pending;
      await until(() => server.engine.numBlocksUsed === 0);
      expect(server.engine.cancelled.has(server.engine.submitted.at(-1)?.requestId as string)).toBe(true);
    } finally {
      server.engine.tokenDelayMs = 0;
    }
  });
});
