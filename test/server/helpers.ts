/** Test helpers: a server on 127.0.0.1:0 around a client, JSON posting and SSE parsing. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createServer, type CreateServerOptions, type KilnServer } from '../../src/server/app.js';
import { InProcessEngineClient, type EngineClient } from '../../src/server/engine-client.js';
import { FAKE_INFO, FakeEngine, fakeTokenizer } from './fake-engine.js';

export interface TestServer {
  readonly app: KilnServer;
  readonly url: string;
  readonly logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/** Starts `createServer` on a free loopback port, capturing its pino logs as objects. */
export async function listen(options: Omit<CreateServerOptions, 'logger'>): Promise<TestServer> {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const app = createServer({ ...options, logger: pino({ level: 'info' }, sink) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const close = async (): Promise<void> => {
    const closing = app.close();
    app.server.closeAllConnections(); // tests need no grace: drop keep-alive and half-sent bodies
    await closing;
  };
  return { app, url: `http://127.0.0.1:${port}`, logs, close };
}

export interface FakeServer extends TestServer {
  readonly engine: FakeEngine;
  readonly client: EngineClient;
}

export async function listenFake(options: Partial<Omit<CreateServerOptions, 'logger' | 'client'>> = {}): Promise<FakeServer> {
  const engine = new FakeEngine();
  const client = new InProcessEngineClient(engine, FAKE_INFO);
  await client.ready;
  const server = await listen({ client, tokenizer: fakeTokenizer(), modelName: 'fake', ...options });
  return { ...server, engine, client };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** The `data:` payloads of an SSE body, in order ('[DONE]' kept as a string). */
export function parseSse(text: string): unknown[] {
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice('data: '.length))
    .map((d) => (d === '[DONE]' ? d : (JSON.parse(d) as unknown)));
}

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Value of a Prometheus sample line `name{labels} value` (labels exact, in text order). */
export function metricValue(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}
