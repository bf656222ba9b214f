/** Renders the check report as markdown (the summary printed last and written beside the JSON). */
import type { CheckResult } from './harness.js';
import type { GemmTiming } from './check-gemm.js';

interface Report {
  readonly started: string;
  readonly device: { name: string; arch: string; numSms: number; driverVersion: number };
  readonly cublasLtVersion: number;
  readonly seed: string;
  readonly copy: { gbps: number; ms: number };
  readonly compile: readonly { file: string; bytes: number; ms: number }[];
  readonly resources: readonly { kernel: string; registers: number; localBytes: number; staticSmem: number }[];
  readonly results: readonly CheckResult[];
  readonly gemm: { timings: GemmTiming[]; cacheHits: number; cacheEntries: number } | { error: string };
}

const f = (v: number | undefined, digits: number): string => (v === undefined || Number.isNaN(v) ? '' : v.toFixed(digits));
const e = (v: number | undefined): string => (v === undefined ? '' : v.toExponential(2));

export function renderMarkdown(r: Report): string {
  const lines = [
    `## CUDA checks: ${r.device.name} (${r.device.arch}, ${r.device.numSms} SMs), driver ${r.device.driverVersion}, cuBLASLt ${r.cublasLtVersion}`,
    `Run ${r.started}, input seed ${r.seed}. Device-to-device copy: **${f(r.copy.gbps, 0)} GB/s** (read + write).`,
    '',
    '| check | pass | error | tol | ms | GB/s | % of copy | TFLOP/s | note |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.results.map((x) => `| ${x.name} | ${x.pass ? 'yes' : '**NO**'} | ${e(x.error)} | ${e(x.tolerance)} | ${f(x.ms, 4)} | ${f(x.gbps, 0)} | ${x.gbps ? f((100 * x.gbps) / r.copy.gbps, 0) : ''} | ${f(x.tflops, 1)} | ${x.note ?? ''} |`),
    '',
  ];
  if ('error' in r.gemm) {
    lines.push(`GEMM tuning failed: ${r.gemm.error}`);
  } else {
    const ceiling = r.gemm.timings.find((t) => t.label === 'ceiling');
    lines.push(`### cuBLASLt GEMM (BF16 in/out, FP32 accumulate, TN), tuned over the heuristic's candidates (median of 20)`,
      `Timing cache: ${r.gemm.cacheEntries} entries, ${r.gemm.cacheHits} hits on re-read.`, '',
      '| proj | M | N | K | heuristic #0 ms | TFLOP/s | tuned ms | TFLOP/s | winner | % of 8192³ |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...r.gemm.timings.map((t) => `| ${t.label} | ${t.m} | ${t.n} | ${t.k} | ${f(t.heuristicMs, 4)} | ${f(t.heuristicTflops, 1)} | ${f(t.bestMs, 4)} | ${f(t.bestTflops, 1)} | #${t.bestIndex} | ${ceiling ? f((100 * t.bestTflops) / ceiling.bestTflops, 0) : ''} |`), '');
  }
  lines.push('### NVRTC compile and kernel resources', '',
    `${r.compile.map((c) => `${c.file} ${c.bytes} B ${f(c.ms, 0)} ms`).join('; ')}`, '',
    `${r.resources.map((x) => `${x.kernel}: ${x.registers} regs, ${x.localBytes} B local, ${x.staticSmem} B static smem`).join('; ')}`);
  return lines.join('\n');
}
