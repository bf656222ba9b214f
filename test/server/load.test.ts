/**
 * Bounded load on the real engine: 200 concurrent streaming requests of mixed lengths. Every
 * one completes exactly once with its own chunks only, greedy text equals a serial run, the KV
 * pool is all free afterwards and /metrics counts what happened.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LLM } from '../../src/runtime/llm.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { metricValue, parseSse } from './helpers.js';
import { buildTinyEngine, type TinyEngine } from './tiny-engine.js';

const NUM_REQUESTS = 200;
const NUM_DISTINCT = 25;

let tiny: TinyEngine;
let server: RunningServer;

beforeAll(async () => {
  tiny = await buildTinyEngine();
  server = await startServer({ engineDir: tiny.engineDir, port: 0, handleSignals: false, logger: false });
  await server.client.ready;
});
afterAll(async () => {
  await server?.shutdown();
  tiny?.cleanup();
});

interface Job {
  readonly prompt: string;
  readonly maxTokens: number;
}

const jobs: Job[] = Array.from({ length: NUM_REQUESTS }, (_, i) => {
  const k = i % NUM_DISTINCT;
  return { prompt: `Request ${k}: ${'tell me more '.repeat(k % 4)}`.trim(), maxTokens: 1 + ((k * 7) % 24) };
});

interface StreamResult {
  ids: Set<string>;
  text: string;
  finishes: number;
  done: boolean;
  usage: { prompt_tokens: number; completion_tokens: number } | undefined;
}

async function streamOne(job: Job): Promise<StreamResult> {
  const res = await fetch(`${server.url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tiny', prompt: job.prompt, max_tokens: job.maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  expect(res.status).toBe(200);
  const out: StreamResult = { ids: new Set(), text: '', finishes: 0, done: false, usage: undefined };
  for (const event of parseSse(await res.text())) {
    if (event === '[DONE]') {
      out.done = true;
      continue;
    }
    const chunk = event as { id: string; choices: { index: number; text: string; finish_reason: string | null }[]; usage?: StreamResult['usage'] };
    out.ids.add(chunk.id);
    for (const c of chunk.choices) {
      expect(c.index).toBe(0);
      out.text += c.text;
      if (c.finish_reason) out.finishes++;
    }
    if (chunk.usage) out.usage = chunk.usage;
  }
  return out;
}

it('200 concurrent streams all complete, unmixed, equal to a serial run, and leave the pool free', async () => {
  const results = await Promise.all(jobs.map((job) => streamOne(job)));

  const reference = new LLM({ engineDir: tiny.engineDir });
  const serial = new Map<string, string>();
  try {
    for (const job of jobs.slice(0, NUM_DISTINCT)) {
      const [r] = await reference.generate([{ prompt: job.prompt, params: { maxNewTokens: job.maxTokens, temperature: 0 } }]);
      serial.set(`${job.prompt}|${job.maxTokens}`, r?.outputs[0]?.text ?? '');
    }
  } finally {
    reference.dispose();
  }

  const allIds = new Set<string>();
  results.forEach((r, i) => {
    const job = jobs[i] as Job;
    expect(r.ids.size).toBe(1); // every chunk of this stream belongs to this request
    allIds.add([...r.ids][0] as string);
    expect(r.done).toBe(true);
    expect(r.finishes).toBe(1);
    expect(r.text).toBe(serial.get(`${job.prompt}|${job.maxTokens}`));
  });
  expect(allIds.size).toBe(NUM_REQUESTS); // none lost or duplicated

  const stats = await server.client.stats();
  expect(stats.kv.numUsed).toBe(0);
  expect(stats.numRunning + stats.numWaiting).toBe(0);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const sum = (f: (r: StreamResult) => number): number => results.reduce((s, r) => s + f(r), 0);
  expect(metricValue(metrics, 'kiln_requests_total{endpoint="/v1/completions",status="200"}')).toBe(NUM_REQUESTS);
  expect(metricValue(metrics, 'kiln_prompt_tokens_total')).toBe(sum((r) => r.usage?.prompt_tokens ?? 0));
  expect(metricValue(metrics, 'kiln_generation_tokens_total')).toBe(sum((r) => r.usage?.completion_tokens ?? 0));
  expect(metricValue(metrics, 'kiln_time_to_first_token_seconds_count')).toBe(NUM_REQUESTS);
  expect(metricValue(metrics, 'kiln_request_latency_seconds_count')).toBe(NUM_REQUESTS);
  expect(metricValue(metrics, 'kiln_kv_blocks_used')).toBe(0);
  expect(metricValue(metrics, 'kiln_admitted_requests')).toBe(0);
});
