/**
 * A tensor-parallel rank that dies puts the server into its failed state (in the engine worker,
 * GpuGroupContext reports the failure; the worker forwards it as 'fatal'): in-flight requests get
 * 500 naming the rank, /health and new requests 503, nothing hangs, and the worker closes.
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
  await client?.close(); // the worker disposes the group: must return even with rank 0's step stuck
  server = undefined;
  client = undefined;
});

/** Serves the fake worker in `mode`, sends a '~' request; checks the 500 naming the failure, then 503s. */
async function expectServerDown(mode: string, message: RegExp): Promise<void> {
  client = new WorkerEngineClient({ engineDir: mode, modelName: 'fake' }, WORKER);
  await client.ready;
  server = await listen({ client, tokenizer: fakeTokenizer(), modelName: 'fake' });
  expect((await fetch(`${server.url}/health`)).status).toBe(200);
  const res = await postJson(`${server.url}/v1/completions`, { model: 'fake', prompt: 'die~', max_tokens: 32 });
  expect(res.status).toBe(500);
  expect((res.body.error as { message: string }).message).toMatch(message);
  const health = await fetch(`${server.url}/health`);
  expect(health.status).toBe(503);
  expect(((await health.json()) as { message: string }).message).toMatch(/tensor-parallel rank/);
  expect((await postJson(`${server.url}/v1/completions`, { model: 'fake', prompt: 'x' })).status).toBe(503);
}

describe('server with a tensor-parallel engine', () => {
  it('a dead rank fails in-flight requests with 500 naming it, then /health answers 503', async () => {
    await expectServerDown('x', /^The engine is down: tensor-parallel rank 1 lost its link to rank 0/);
  });

  it('a rank that dies while rank 0\'s step hangs in a collective: 500 naming it, not a hang', async () => {
    await expectServerDown('group:die', /^The engine is down: tensor-parallel rank 1 lost its link to rank 0 \(link closed\)/);
  }, 10_000);

  it('a rank alive but silent past KILN_TP_STEP_TIMEOUT_MS: the watchdog fails the group, 500 naming it', async () => {
    await expectServerDown('group:silent', /^The engine is down: tensor-parallel rank\(s\) 1 did not finish step 1 within 150 ms/);
  }, 10_000); // a hang fails here, not at vitest's default
});
