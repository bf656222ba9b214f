/**
 * A tensor-parallel rank that dies puts the server into its failed state (in the engine worker,
 * GpuGroupContext reports the failure; the worker forwards it as 'fatal'): in-flight requests get
 * 500 naming the rank, /health and new requests 503, nothing hangs.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerEngineClient } from '../../src/server/worker-client.js';
import { fakeTokenizer } from '../server/fake-engine.js';
import { listen, postJson, type TestServer } from '../server/helpers.js';

const WORKER = fileURLToPath(new URL('./fake-tp-worker.ts', import.meta.url));
let client: WorkerEngineClient | undefined;
let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  await client?.close();
  server = undefined;
  client = undefined;
});

describe('server with a tensor-parallel engine', () => {
  it('a dead rank fails in-flight requests with 500 naming it, then /health answers 503', async () => {
    client = new WorkerEngineClient({ engineDir: 'x', modelName: 'fake' }, WORKER);
    await client.ready;
    server = await listen({ client, tokenizer: fakeTokenizer(), modelName: 'fake' });
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    const res = await postJson(`${server.url}/v1/completions`, { model: 'fake', prompt: 'die~', max_tokens: 32 });
    expect(res.status).toBe(500);
    expect((res.body.error as { message: string }).message).toMatch(/^The engine is down: tensor-parallel rank 1 lost its link to rank 0/);
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { message: string }).message).toMatch(/tensor-parallel rank 1/);
    expect((await postJson(`${server.url}/v1/completions`, { model: 'fake', prompt: 'x' })).status).toBe(503);
  });
});
