/**
 * Graceful shutdown of the real server process (src/server/main.ts, the entry `kiln serve`
 * wraps): SIGTERM under load → new requests 503, in-flight streams finish whole, exit code 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseSse, postJson, until } from './helpers.js';
import { buildTinyEngine, type TinyEngine } from './tiny-engine.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NUM_INFLIGHT = 48;
const N = 2;
const MAX_TOKENS = 32;

let tiny: TinyEngine;
let child: ChildProcess | undefined;

beforeAll(async () => {
  tiny = await buildTinyEngine();
});
afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  tiny?.cleanup();
});

function startProcess(): Promise<string> {
  child = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts', '--engine_dir', tiny.engineDir, '--port', '0'], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffered = '';
  return new Promise((resolve, reject) => {
    child?.stdout?.on('data', (data: Buffer) => {
      buffered += data.toString();
      const match = /"url":"(http:[^"]+)".*"msg":"kiln serve listening"/.exec(buffered);
      if (match) resolve(match[1] as string);
    });
    child?.stderr?.on('data', (data: Buffer) => process.stderr.write(data));
    child?.on('exit', (code) => reject(new Error(`server exited early with ${code}: ${buffered}`)));
  });
}

interface Finished {
  tokens: number;
  done: boolean;
  at: number;
}

async function stream(url: string): Promise<Finished> {
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tiny', prompt: 'Shut down gently', max_tokens: MAX_TOKENS, n: N, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
  });
  expect(res.status).toBe(200);
  const events = parseSse(await res.text());
  const usage = (events.at(-2) as { usage?: { completion_tokens: number } }).usage;
  return { tokens: usage?.completion_tokens ?? -1, done: events.at(-1) === '[DONE]', at: performance.now() };
}

it('SIGTERM during load: in-flight requests finish, new ones get 503, exit code 0', async () => {
  const url = await startProcess();
  await until(async () => (await fetch(`${url}/health`).catch(() => undefined))?.status === 200, 30_000);
  const exited = new Promise<number | null>((resolve) => child?.on('exit', (code) => resolve(code)));

  const inflight = Array.from({ length: NUM_INFLIGHT }, () => stream(url));
  await until(async () => {
    const metrics = await (await fetch(`${url}/metrics`)).text();
    return metrics.includes(`kiln_admitted_requests ${NUM_INFLIGHT}`);
  });
  child?.kill('SIGTERM');
  await until(async () => (await fetch(`${url}/health`)).status === 503);
  const refused = await postJson(`${url}/v1/completions`, { model: 'tiny', prompt: 'too late', max_tokens: 2 });
  const refusedAt = performance.now();
  expect(refused.status).toBe(503);
  expect((refused.body.error as { code: string }).code).toBe('draining');

  const finished = await Promise.all(inflight);
  expect(finished.every((f) => f.done && f.tokens === N * MAX_TOKENS)).toBe(true);
  expect(finished.some((f) => f.at > refusedAt)).toBe(true); // the refusal came while requests were still running
  expect(await exited).toBe(0);
  await expect(fetch(`${url}/health`)).rejects.toThrow();
});
