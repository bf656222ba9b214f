/** Triton generate endpoints, /health, /metrics, request logs and draining, on the fake engine. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessEngineClient } from '../../src/server/engine-client.js';
import { FAKE_INFO, FakeEngine, fakeText, fakeTokenizer } from './fake-engine.js';
import { listen, listenFake, metricValue, parseSse, postJson, until, type FakeServer } from './helpers.js';

const tok = fakeTokenizer();
let server: FakeServer;

beforeAll(async () => {
  server = await listenFake();
});
afterAll(async () => server.close());

describe('Triton generate protocol', () => {
  it('generate returns text_output (input included unless excluded)', async () => {
    const r = await postJson(`${server.url}/v2/models/fake/generate`, { text_input: 'hey', max_tokens: 4, temperature: 0, end_id: 2, pad_id: 2 });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ model_name: 'fake', model_version: '1', text_output: `hey${fakeText(tok.encode('hey'), 0, 4)}` });
    expect(server.engine.submitted.at(-1)?.params).toEqual({ maxNewTokens: 4, temperature: 0, stopTokenIds: [2] });
    const x = await postJson(`${server.url}/v2/models/fake/generate`, { text_input: 'hey', max_tokens: 3, exclude_input_in_output: true, top_k: 2, top_p: 0.5, seed: 3, stop_words: ['zz'] });
    expect(x.body.text_output).toBe(fakeText(tok.encode('hey'), 0, 3));
    expect(server.engine.submitted.at(-1)?.params).toEqual({ maxNewTokens: 3, topK: 2, topP: 0.5, seed: 3, stop: ['zz'] });
  });

  it('generate_stream sends one SSE data event per increment', async () => {
    const res = await fetch(`${server.url}/v2/models/fake/generate_stream`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text_input: 'hey', max_tokens: 5 }),
    });
    const events = parseSse(await res.text()) as { text_output: string; model_name: string }[];
    expect(events).toHaveLength(5);
    expect(events.map((e) => e.text_output).join('')).toBe(fakeText(tok.encode('hey'), 0, 5));
    expect(events.every((e) => e.model_name === 'fake')).toBe(true);
  });

  it('errors in Triton shape: bad_words unsupported, unknown model, bad field', async () => {
    const bad = await postJson(`${server.url}/v2/models/fake/generate`, { text_input: 'x', bad_words: ['no'] });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ error: "'bad_words' is not supported by this server; remove it." });
    const unknown = await postJson(`${server.url}/v2/models/other/generate`, { text_input: 'x' });
    expect(unknown.status).toBe(404);
    const typo = await postJson(`${server.url}/v2/models/fake/generate`, { text_input: 'x', max_token: 3 });
    expect(typo.status).toBe(400);
    expect(typo.body.error).toMatch(/max_token/);
  });

  it('health and model metadata', async () => {
    expect((await fetch(`${server.url}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${server.url}/v2/health/ready`)).status).toBe(200);
    expect((await fetch(`${server.url}/v2/models/fake/ready`)).status).toBe(200);
    const meta = (await (await fetch(`${server.url}/v2/models/fake`)).json()) as { name: string; versions: string[]; outputs: { name: string }[] };
    expect(meta.name).toBe('fake');
    expect(meta.versions).toEqual(['1']);
    expect(meta.outputs.map((o) => o.name)).toEqual(['text_output']);
  });
});

describe('operations', () => {
  it('/health is 503 until the engine is loaded, then 200', async () => {
    let resolve!: (i: typeof FAKE_INFO) => void;
    const client = new InProcessEngineClient(new FakeEngine(), new Promise((r) => (resolve = r)));
    const s = await listen({ client, tokenizer: tok, modelName: 'fake' });
    try {
      const loading = await fetch(`${s.url}/health`);
      expect(loading.status).toBe(503);
      expect(await loading.json()).toEqual({ status: 'loading', message: 'The engine is loading.' });
      const early = await postJson(`${s.url}/v1/completions`, { model: 'fake', prompt: 'x' });
      expect(early.status).toBe(503);
      expect((early.body.error as { code: string }).code).toBe('model_loading');
      expect((await fetch(`${s.url}/v2/health/ready`)).status).toBe(503);
      resolve(FAKE_INFO);
      await client.ready;
      expect((await fetch(`${s.url}/health`)).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('/metrics counts requests by endpoint and status, tokens, latencies and engine gauges', async () => {
    const s = await listenFake();
    try {
      await postJson(`${s.url}/v1/completions`, { model: 'fake', prompt: 'abc', max_tokens: 4, n: 2 });
      await postJson(`${s.url}/v1/completions`, { model: 'fake', prompt: 'abc', max_tokens: 0 });
      await fetch(`${s.url}/v2/models/fake/generate_stream`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text_input":"hi","max_tokens":3}' }).then((r) => r.text());
      const res = await fetch(`${s.url}/metrics`);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const text = await res.text();
      expect(metricValue(text, 'kiln_requests_total{endpoint="/v1/completions",status="200"}')).toBe(1);
      expect(metricValue(text, 'kiln_requests_total{endpoint="/v1/completions",status="400"}')).toBe(1);
      expect(metricValue(text, 'kiln_requests_total{endpoint="/v2/models/:model/generate_stream",status="200"}')).toBe(1);
      expect(metricValue(text, 'kiln_prompt_tokens_total')).toBe(5);
      expect(metricValue(text, 'kiln_generation_tokens_total')).toBe(11);
      expect(metricValue(text, 'kiln_time_to_first_token_seconds_count')).toBe(2);
      expect(metricValue(text, 'kiln_inter_token_latency_seconds_count')).toBe(3 * 2 + 2);
      expect(metricValue(text, 'kiln_kv_blocks_used')).toBe(0);
      expect(metricValue(text, 'kiln_kv_blocks_total')).toBe(100);
      expect(metricValue(text, 'kiln_prefix_cache_hit_rate')).toBe(0.25);
      expect(metricValue(text, 'kiln_running_requests')).toBe(0);
      expect(metricValue(text, 'kiln_queue_length')).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('logs one structured line per request with id, status, tokens and latency', async () => {
    const before = server.logs.length;
    await postJson(`${server.url}/v1/completions`, { model: 'fake', prompt: 'abc', max_tokens: 3 }, { 'x-request-id': 'req-42' });
    await until(() => server.logs.length > before);
    const line = server.logs.slice(before).find((l) => l.msg === 'request');
    expect(line).toMatchObject({ reqId: 'req-42', method: 'POST', url: '/v1/completions', status: 200, promptTokens: 3, completionTokens: 3 });
    expect(typeof line?.latencyMs).toBe('number');
  });

  it('drain: in-flight requests finish, new ones and /health get 503', async () => {
    const s = await listenFake();
    s.engine.tokenDelayMs = 10;
    try {
      const inflight = postJson(`${s.url}/v1/completions`, { model: 'fake', prompt: 'abc', max_tokens: 10 });
      await until(() => s.app.kiln.admission.numInFlight === 1);
      const drained = s.app.kiln.drain(5_000);
      const refused = await postJson(`${s.url}/v1/completions`, { model: 'fake', prompt: 'abc', max_tokens: 1 });
      expect(refused.status).toBe(503);
      expect((refused.body.error as { code: string }).code).toBe('draining');
      expect((await fetch(`${s.url}/health`)).status).toBe(503);
      const done = await inflight;
      expect(done.status).toBe(200);
      expect((done.body.choices as { text: string }[])[0]?.text).toBe(fakeText(tok.encode('abc'), 0, 10));
      expect(await drained).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('drain timeout cancels what is left', async () => {
    const s = await listenFake();
    s.engine.tokenDelayMs = 20;
    try {
      const inflight = postJson(`${s.url}/v1/completions`, { model: 'fake', prompt: 'abc', max_tokens: 30 });
      await until(() => s.app.kiln.admission.numInFlight === 1);
      expect(await s.app.kiln.drain(50)).toBe(false);
      const r = await inflight;
      expect((r.body.choices as { finish_reason: string }[])[0]?.finish_reason).toBe('abort');
      expect(s.engine.numBlocksUsed).toBe(0);
    } finally {
      await s.close();
    }
  });
});
