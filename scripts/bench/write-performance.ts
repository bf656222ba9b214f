/**
 * Writes the generated parts of docs/PERFORMANCE.md from one device run's JSON outputs (issue 6:
 * Kiln vs HF same-run table, serving, memory, roofline, per-op profile; issue 7: quant formats),
 * between `<!-- generated:issueN start -->` / `<!-- generated:issueN end -->` markers, so the
 * hand-written analysis around them stays. Also renders the serving and quant charts (SVG, vega).
 * Usage: npx tsx scripts/bench/write-performance.ts --dir docs/bench --prefix h100- [--doc docs/PERFORMANCE.md]
 *        [--config scripts/cuda/llama3-8b-config.json] [--no_charts] [--stdout]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { svgChart } from '../../src/bench/report.js';
import type { BenchResult } from '../../src/bench/types.js';
import { loadRun, type RunData } from './perf-data.js';
import { issue6Section, llamaShape } from './perf-issue6.js';
import { issue7Section, quantRows } from './perf-issue7.js';

export const SECTIONS = {
  issue6: { heading: '## Llama-3-8B on one H100 (issue 6) — same run, same card', find: '(issue 6)' },
  issue7: { heading: '## Quantization on one H100 (issue 7) — same run, same card', find: '(issue 7)' },
} as const;
export type SectionName = keyof typeof SECTIONS;

const start = (n: SectionName): string => `<!-- generated:${n} start (scripts/bench/write-performance.ts; edit the JSON, not this) -->`;
const end = (n: SectionName): string => `<!-- generated:${n} end -->`;

/**
 * Replaces the text between `name`'s markers with `body`. Without markers: right after the
 * section's heading when the document has one, else a new section at the end.
 */
export function splice(doc: string, name: SectionName, body: string): string {
  const block = `${start(name)}\n${body.trimEnd()}\n${end(name)}`;
  const s = doc.indexOf(`<!-- generated:${name} start`);
  const e = doc.indexOf(end(name));
  if (s >= 0 && e > s) return doc.slice(0, s) + block + doc.slice(e + end(name).length);
  const lines = doc.split('\n');
  const h = lines.findIndex((l) => l.startsWith('## ') && l.includes(SECTIONS[name].find));
  if (h >= 0) return [...lines.slice(0, h + 1), '', block, ...lines.slice(h + 1)].join('\n');
  return `${doc.trimEnd()}\n\n${SECTIONS[name].heading}\n\n${block}\n`;
}

export interface Rendered { readonly data: RunData; readonly issue6: string; readonly issue7: string }

export function render(dir: string, prefix: string, configPath: string): Rendered {
  const data = loadRun(dir, prefix);
  const m = llamaShape(JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, number>);
  return { data, issue6: issue6Section(data, m), issue7: issue7Section(data, m) };
}

/** The serving chart (throughput and TTFT against concurrency) and the quant chart (decode rate and weight GB per format). */
export async function writeCharts(dir: string, d: RunData): Promise<string[]> {
  const written: string[] = [];
  const serve = d.kiln.serve;
  if (serve) {
    const path = join(dir, `${d.prefix}kiln-serve.svg`);
    writeFileSync(path, await svgChart(serve.results, `kiln bench serve, Llama-3-8B dummy, ${d.device?.card ?? d.hf?.device ?? ''}`.trim()));
    written.push(path);
  }
  const q = quantRows(d);
  if (q.length > 0) {
    const results: BenchResult[] = q.map(({ name, r }) => ({ ...r, label: name }));
    const path = join(dir, `${d.prefix}quant.svg`);
    writeFileSync(path, await svgChart(results, 'Llama-3-8B dummy: batch-1 decode and weight bytes per format', [
      { name: 'batch-1 decode tok/s', value: (r) => r.decodeTokPerS },
      { name: 'weights on the GPU (GB)', value: (r) => (r.memory ? r.memory.weights / 1e9 : undefined) },
    ]));
    written.push(path);
  }
  return written;
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      dir: { type: 'string', default: 'docs/bench' }, prefix: { type: 'string', default: 'h100-' }, doc: { type: 'string', default: 'docs/PERFORMANCE.md' },
      config: { type: 'string', default: 'scripts/cuda/llama3-8b-config.json' }, no_charts: { type: 'boolean', default: false }, stdout: { type: 'boolean', default: false },
    },
  });
  const r = render(a.dir, a.prefix, a.config);
  if (a.stdout) {
    process.stdout.write(`${r.issue6}\n\n---\n\n${r.issue7}\n`);
    return;
  }
  let doc = readFileSync(a.doc, 'utf8');
  doc = splice(doc, 'issue6', r.issue6);
  if (quantRows(r.data).length > 0) doc = splice(doc, 'issue7', r.issue7);
  writeFileSync(a.doc, doc);
  const charts = a.no_charts ? [] : await writeCharts(a.dir, r.data);
  process.stderr.write(`wrote ${a.doc} from ${r.data.files.length} files${charts.length ? `; charts ${charts.join(', ')}` : ''}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) main().catch((e: unknown) => { console.error(e); process.exitCode = 1; });
