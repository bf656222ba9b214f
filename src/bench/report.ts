/**
 * Renders benchmark reports for people: a markdown table, and an SVG chart (vega-lite,
 * rendered headless) of throughput and TTFT per scenario or against concurrency.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { describeEngine } from './engine-info.js';
import type { BenchReport, BenchResult } from './types.js';

const fmt = (x: number | undefined | null, digits = 1): string =>
  x === undefined || x === null || Number.isNaN(x) ? '–' : x.toFixed(digits);

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

export function markdownTable(results: readonly BenchResult[]): string {
  const head = '| scenario | mode | requests | ISL/OSL | conc. | output tok/s | total tok/s | req/s | TTFT p50 / p90 / p99 ms | ITL p50 / p99 ms | KV frag. | memory MiB (weights / KV / act. / other) |';
  const sep = '|' + ' --- |'.repeat(12);
  const rows = results.map((r) => {
    const mem = r.memory ? `${mib(r.memory.weights)} / ${mib(r.memory.kvCache)} / ${mib(r.memory.activations)} / ${mib(r.memory.other)}` : '–';
    return `| ${r.label} | ${r.mode} | ${r.numRequests} | ${fmt(r.meanInputLen, 0)}/${fmt(r.meanOutputLen, 0)} | ${r.concurrency ?? '–'} | ` +
      `${fmt(r.outputTokPerS)} | ${fmt(r.totalTokPerS)} | ${fmt(r.reqPerS, 2)} | ` +
      `${fmt(r.ttftMs.p50)} / ${fmt(r.ttftMs.p90)} / ${fmt(r.ttftMs.p99)} | ${fmt(r.itlMs.p50, 2)} / ${fmt(r.itlMs.p99, 2)} | ` +
      `${r.fragmentation === null ? '–' : `${(100 * r.fragmentation).toFixed(1)}%`} | ${mem} |`;
  });
  return [head, sep, ...rows].join('\n');
}

/** One line per offline result: formats, declared weight bytes and KV pool capacity. */
function engineLines(results: readonly BenchResult[]): string[] {
  const lines = results.flatMap((r) => (r.format ? [`${describeEngine(r.format, r.kvPool)}`] : []));
  return [...new Set(lines)].flatMap((l) => [l, '']);
}

/** One line per offline result: how late the event loop ran while it went on. */
function loopLines(results: readonly BenchResult[]): string[] {
  const lines = results.flatMap((r) => {
    const d = r.eventLoopDelayMs;
    return d ? [`Event-loop delay during ${r.label} (1 ms timer interval; 1.00 = on time): p50 ${fmt(d.p50, 2)} / p99 ${fmt(d.p99, 2)} / max ${fmt(d.max, 2)} ms over ${d.samples} samples.`] : [];
  });
  return lines.length ? [...lines, ''] : [];
}

export function markdownReport(report: BenchReport): string {
  return [
    `Kiln ${report.kiln}, ${report.date}, ${report.host.device}, Node ${report.host.node} (${report.host.platform}, ${report.host.cpus} CPUs)`,
    '',
    `Command: \`${report.command}\``,
    '',
    markdownTable(report.results),
    '',
    ...engineLines(report.results),
    ...loopLines(report.results),
  ].join('\n');
}

/** One panel of a chart: a name and the value it plots per result. */
export interface ChartMetric {
  readonly name: string;
  readonly value: (r: BenchResult) => number | undefined;
}

export const DEFAULT_METRICS: readonly ChartMetric[] = [
  { name: 'output tok/s', value: (r) => r.outputTokPerS },
  { name: 'TTFT p50 (ms)', value: (r) => r.ttftMs.p50 },
];

/** Bars of each metric (default output tok/s and TTFT p50) per scenario (x = concurrency when the runs have one). */
export async function svgChart(results: readonly BenchResult[], title: string, metrics: readonly ChartMetric[] = DEFAULT_METRICS): Promise<string> {
  const vega = await import('vega');
  const vl = await import('vega-lite');
  const values = results.flatMap((r) => metrics.map((m) => ({ scenario: r.label, concurrency: r.concurrency, metric: m.name, value: m.value(r) ?? Number.NaN })))
    .filter((v) => Number.isFinite(v.value));
  // A concurrency sweep reads best as lines against concurrency; anything else as bars per scenario.
  const sweep = results.length > 1 && results.every((r) => r.mode === 'serve' && r.concurrency !== null);
  const y = { field: 'value', type: 'quantitative', title: null } as const;
  const encoding = sweep
    ? { x: { field: 'concurrency', type: 'quantitative', scale: { type: 'log' }, title: 'concurrent streams' } as const, y }
    : {
        x: { field: 'scenario', type: 'nominal', sort: null, axis: { labelAngle: -30 } } as const,
        y,
        color: { field: 'scenario', type: 'nominal', legend: null } as const,
      };
  const spec = vl.compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values },
    facet: { column: { field: 'metric', type: 'nominal', title: null } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 260,
      height: 200,
      mark: sweep ? { type: 'line', point: true, tooltip: true } : { type: 'bar', tooltip: true },
      encoding,
    },
  }).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** Writes a file atomically (temp + rename). */
export function writeFileAtomic(path: string, content: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content);
  renameSync(tmp, path);
}
