/**
 * WorkerEngineClient over a real worker thread (running test/server/fake-worker.ts through the
 * same tsx bootstrap the engine worker uses from sources): messages, stats, crash handling.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineUnavailableError } from '../../src/server/errors.js';
import { WorkerEngineClient } from '../../src/server/worker-client.js';
import { FAKE_INFO, fakeText, fakeTokenizer } from './fake-engine.js';
import { listen, postJson, type TestServer } from './helpers.js';

const FAKE_WORKER = fileURLToPath(new URL('./fake-worker.ts', import.meta.url));
const tok = fakeTokenizer();
let client: WorkerEngineClient | undefined;
let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  await client?.close();
  server = undefined;
  client = undefined;
});

describe('WorkerEngineClient', () => {
  it('loads, streams deltas, answers stats, cancels', async () => {
    client = new WorkerEngineClient({ engineDir: 'x', modelName: 'w' }, FAKE_WORKER);
    expect(await client.ready).toEqual({ ...FAKE_INFO, name: 'w' });
    let text = '';
    for await (const d of client.submit({ requestId: 'a', promptTokenIds: [104, 105], params: { maxNewTokens: 4 } })) text += d.text;
    expect(text).toBe(fakeText([104, 105], 0, 4));
    const deltas = client.submit({ requestId: 'b', promptTokenIds: [104], params: { maxNewTokens: 1000 } });
    const reasons: string[] = [];
    for await (const d of deltas) {
      if ((await client.stats()).numRunning === 1) client.cancel('b');
      if (d.finishReason) reasons.push(d.finishReason);
    }
    expect(reasons).toEqual(['cancelled']);
    expect((await client.stats()).kv.numUsed).toBe(0);
  });

  it('a load failure puts /health into 503 with the reason', async () => {
    client = new WorkerEngineClient({ engineDir: 'fail' }, FAKE_WORKER);
    await expect(client.ready).rejects.toThrow('no such engine');
    server = await listen({ client, tokenizer: tok, modelName: 'fake' });
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'failed', message: 'The engine failed to load: no such engine' });
  });

  it('a worker crash fails in-flight requests with 500, then /health and new requests get 503 — no hang', async () => {
    client = new WorkerEngineClient({ engineDir: 'x', modelName: 'fake' }, FAKE_WORKER);
    await client.ready;
    server = await listen({ client, tokenizer: tok, modelName: 'fake' });
    const bystander = postJson(`${server.url}/v1/completions`, { model: 'fake', prompt: 'ok', max_tokens: 32 });
    const crasher = await postJson(`${server.url}/v1/completions`, { model: 'fake', prompt: 'boom#', max_tokens: 32 });
    expect(crasher.status).toBe(500);
    expect((crasher.body.error as { message: string }).message).toMatch(/The engine worker exited unexpectedly \(code 3\)/);
    expect((await bystander).status).toBe(500);
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { status: string }).status).toBe('failed');
    expect((await postJson(`${server.url}/v1/completions`, { model: 'fake', prompt: 'x' })).status).toBe(503);
    expect(() => client?.submit({ requestId: 'z', promptTokenIds: [1] })).toThrow(EngineUnavailableError);
    await expect(client.stats()).rejects.toThrow(EngineUnavailableError);
    expect(server.app.kiln.admission.numInFlight).toBe(0);
  });
});
