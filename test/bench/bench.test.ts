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
    const res = kiln(['bench', 'throughput', '--engine_dir', tiny.engineDir, '--num_requests', '12', '--input_len', '20', '--output_len', '10', '--input_std', '5', '--output_json', json, '--output_svg', svg]);
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
