/**
 * `kiln bench` in all three modes on the embedded default model (CPU), through the CLI:
 * the reports must hold real measurements (token counts equal to the workload, finite
 * latencies, memory split from the backend) plus the markdown table and an SVG chart.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../src/bench/types.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { kiln, kilnAsync } from '../cli/helpers.js';
import { buildTinyEngine, type TinyEngine } from '../server/tiny-engine.js';

/** K and V of one token in every layer of the tiny model, float32 on the CPU: 2 × 4 layers × 2 heads × 32 × 4 B. */
const KV_TOKEN_BYTES = 2 * 4 * 2 * 32 * 4;
const KV_BLOCK_BYTES = 32 * KV_TOKEN_BYTES;

describe('kiln bench', () => {
  let tiny: TinyEngine;
  let server: RunningServer;
  beforeAll(async () => {
    tiny = await buildTinyEngine();
    server = await startServer({ engineDir: tiny.engineDir, port: 0, inProcess: true, handleSignals: false, logger: false });
    await server.client.ready;
  });
  afterAll(async () => {
    await server.shutdown();
    tiny.cleanup();
  });

  const readReport = (path: string): BenchReport => JSON.parse(readFileSync(path, 'utf8')) as BenchReport;

  it('throughput: all requests at once, exact token counts, memory split and fragmentation', () => {
    const json = join(tiny.engineDir, '..', 'tp.json');
    const svg = join(tiny.engineDir, '..', 'tp.svg');
    const res = kiln(['bench', 'throughput', '--engine_dir', tiny.engineDir, '--num_requests', '12', '--input_len', '20', '--output_len', '10', '--input_std', '5', '--kv_cache_bytes', String(30 * KV_BLOCK_BYTES), '--output_json', json, '--output_svg', svg]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('| throughput 20/10 | throughput | 12 |');
    const r = readReport(json).results[0]!;
    expect(r.numRequests).toBe(12);
    expect(r.outputTokPerS * r.durationS).toBeCloseTo(120, 6); // 12 requests × 10 tokens, ignore_eos
    expect(r.ttftMs.p50).toBeGreaterThan(0);
    expect(r.ttftMs.p99).toBeGreaterThanOrEqual(r.ttftMs.p50);
    expect(r.itlMs.p50).toBeGreaterThan(0);
    expect(r.memory!.weights).toBeGreaterThan(0);
    expect(r.memory!.kvCache).toBeGreaterThan(0);
    expect(r.fragmentation).toBeGreaterThanOrEqual(0);
    expect(r.fragmentation).toBeLessThan(1);
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg[\s\S]*output tok\/s[\s\S]*<\/svg>$/);
    // The engine's formats, declared weight bytes and KV pool capacity (tiny model: 4 layers, 2 KV heads × 32, float32).
    expect(r.format).toMatchObject({ weights: 'float32', activations: 'float32', kvCache: 'float32', dummyWeights: false });
    expect(r.format!.weightBytesByComponent['mlp']).toBe(4 * 3 * 128 * 256 * 4);
    expect(r.kvPool).toEqual({ numBlocks: 30, tokensPerBlock: 32, capacityTokens: 960, bytesPerToken: KV_TOKEN_BYTES });
    expect(res.stdout).toContain('Engine: weights float32, activations float32, KV cache float32; declared weight bytes');
    expect(res.stdout).toContain('KV pool 30 blocks × 32 = 960 tokens (2048 B per token)');
    expect(r.eventLoopDelayMs!.samples).toBeGreaterThan(0);
    expect(r.eventLoopDelayMs!.max).toBeGreaterThanOrEqual(r.eventLoopDelayMs!.p50);
    expect(res.stdout).toMatch(/Event-loop delay during throughput 20\/10 \(1 ms timer interval; 1\.00 = on time\): p50 [\d.]+ \/ p99 [\d.]+ \/ max [\d.]+ ms over \d+ samples\./);
  });

  it('latency: one request at a time, prefill and decode timed apart', () => {
    const json = join(tiny.engineDir, '..', 'lat.json');
    const res = kiln(['bench', 'latency', '--engine_dir', tiny.engineDir, '--num_requests', '2', '--input_len', '30', '--output_len', '8', '--output_json', json]);
    expect(res.code, res.stderr).toBe(0);
    const r = readReport(json).results[0]!;
    expect(r.concurrency).toBe(1);
    expect(r.prefillMs).toBeGreaterThan(0);
    expect(r.decodeTokPerS).toBeGreaterThan(0);
    expect(r.outputTokPerS * r.durationS).toBeCloseTo(16, 6);
  });

  it('serve: streams against a running kiln serve at several concurrencies', async () => {
    const json = join(tiny.engineDir, '..', 'serve.json');
    const res = await kilnAsync(['bench', 'serve', '--url', server.url, '--concurrency', '1,4', '--num_requests', '6', '--input_len', '12', '--output_len', '6', '--output_json', json]);
    expect(res.code, res.stderr).toBe(0);
    const report = readReport(json);
    expect(report.results.map((r) => r.concurrency)).toEqual([1, 4]);
    for (const r of report.results) {
      expect(r.outputTokPerS * r.durationS).toBeCloseTo(36, 6); // usage.completion_tokens summed
      expect(r.ttftMs.p50).toBeGreaterThan(0);
    }
    rmSync(json);
  });

  it('names the flag when the workload is invalid', () => {
    const res = kiln(['bench', 'throughput', '--engine_dir', tiny.engineDir, '--num_requests', '0']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('--num_requests must be a positive integer');
  });
});
