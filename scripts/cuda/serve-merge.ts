/**
 * Merges `kiln bench serve` reports (one per concurrency group, each with its own request count)
 * into one JSON report and one SVG chart. Usage: node serve-merge.mjs OUT.json OUT.svg IN.json...
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { markdownReport, svgChart } from '../../src/bench/report.js';
import type { BenchReport } from '../../src/bench/types.js';

async function main(): Promise<void> {
  const [outJson, outSvg, ...inputs] = process.argv.slice(2);
  const reports = inputs.map((f) => JSON.parse(readFileSync(f, 'utf8')) as BenchReport);
  const first = reports[0]!;
  const merged: BenchReport = { ...first, command: reports.map((r) => r.command).join(' ; '), results: reports.flatMap((r) => r.results) };
  writeFileSync(outJson!, `${JSON.stringify(merged, null, 2)}\n`);
  writeFileSync(outSvg!, await svgChart(merged.results, 'kiln bench serve, Llama-3-8B dummy, H100'));
  process.stdout.write(`${markdownReport(merged)}\n`);
}

main().catch((e: unknown) => { console.error(e); process.exitCode = 1; });
