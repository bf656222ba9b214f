/** Prints one compact markdown table of every `kiln bench` JSON report given. Usage: node bench-summary.mjs FILE... */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { BenchReport } from '../../src/bench/types.js';

const f = (x: number | undefined, d = 1): string => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
const lines = ['| file | scenario | reqs | out tok/s | total tok/s | TTFT p50/p99 ms | ITL p50/p99 ms | decode tok/s (batch 1) | preempt |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |'];
for (const file of process.argv.slice(2)) {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
    for (const x of r.results) {
      lines.push(`| ${basename(file)} | ${x.label} | ${x.numRequests} | ${f(x.outputTokPerS)} | ${f(x.totalTokPerS)} | ${f(x.ttftMs.p50)} / ${f(x.ttftMs.p99)} | ${f(x.itlMs.p50, 2)} / ${f(x.itlMs.p99, 2)} | ${f(x.decodeTokPerS)} | ${x.numPreemptions ?? '-'} |`);
    }
  } catch (e) {
    lines.push(`| ${basename(file)} | unreadable: ${(e as Error).message.slice(0, 80)} | | | | | | | |`);
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
