/**
 * The generated issue-7 section of docs/PERFORMANCE.md: per quant format (bf16, fp8, int8_wo,
 * int4_wo, bf16 weights + fp8 KV) the weight bytes, memory split, KV pool capacity at the same KV
 * budget, batch-1 decode rate against its own bandwidth ceiling, and the issue's targets.
 */
import type { BenchResult } from '../../src/bench/types.js';
import { first, kvBudget, QUANT_FORMATS, type QuantName, type RunData } from './perf-data.js';
import { decodeRoofline, n0, n1, type LlamaShape } from './perf-issue6.js';

const met = (ok: boolean | undefined): string => (ok === undefined ? '–' : ok ? '**met**' : '**missed**');
const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;

export function quantRows(d: RunData): { name: QuantName; r: BenchResult }[] {
  return QUANT_FORMATS.flatMap((name) => {
    const r = first(d.quantLatency[name]);
    return r ? [{ name, r }] : [];
  });
}

export function issue7Section(d: RunData, m: LlamaShape): string {
  const rows = quantRows(d);
  if (rows.length === 0) return 'No quantization run in this folder yet (`bash scripts/bench/run-on-device.sh quant`).';
  const bf = rows.find((x) => x.name === 'bf16')?.r;
  const c = d.quantCeilings;
  const kvElem = (r: BenchResult): number => (r.format?.kvCache === 'fp8e4m3' ? 1 : 2);
  const table = rows.map(({ name, r }) => {
    const w = r.memory?.weights;
    const ceil = c && w ? decodeRoofline(w, m, 128, kvElem(r), c.copy_GBps) : undefined;
    const dec = r.decodeTokPerS;
    return `| ${name} | ${r.format ? `${r.format.weights} / ${r.format.kvCache}` : '–'} | ${w !== undefined ? n0(w) : '–'} | ${bf?.memory && w !== undefined ? pct(w / bf.memory.weights) : '–'} | ` +
      `${r.kvPool ? n0(r.kvPool.capacityTokens) : '–'} | ${r.kvPool?.bytesPerToken != null ? n0(r.kvPool.bytesPerToken) : '–'} | ` +
      `${dec !== undefined ? n1(dec) : '–'} | ${bf?.decodeTokPerS && dec !== undefined ? `${(dec / bf.decodeTokPerS).toFixed(2)}×` : '–'} | ` +
      `${ceil ? `${n1(ceil.tokPerS)} (${dec !== undefined ? pct(dec / ceil.tokPerS) : '–'})` : '–'} |`;
  });
  const split = rows.map(({ name, r }) => r.memory ? `| ${name} | ${n0(r.memory.weights)} | ${n0(r.memory.kvCache)} | ${n0(r.memory.activations)} | ${n0(r.memory.other)} |` : `| ${name} | – | – | – | – |`);
  const budget = kvBudget(d.quantLatency.bf16 ?? d.quantLatency[rows[0]!.name]);
  const dev = d.quantDevice;
  return [
    ...(dev ? [`- Card: ${dev.card}, driver ${dev.driver}, CUDA ${dev.cuda}; device call ${dev.started} – ${dev.finished}; phases: ${dev.phases.map((p) => `${p.phase} ${p.skipped ? `skipped (${p.skipped})` : `${p.seconds} s`}`).join(', ')}.`] : []),
    `- Command (one device call): \`bash scripts/bench/run-on-device.sh ${d.quantDevice?.mode ?? 'quant'}\` (its quant phase, \`scripts/bench/run-quant.sh\`): per format \`kiln build --target cuda --load_format dummy --quant FMT --calib_size 0\` (fp8: \`--fp8_activation dynamic\`; fp8 KV: \`--kv_cache_dtype fp8\`, scale 1) from the Llama-3-8B config.json, then \`kiln bench latency --num_requests 3 --input_len 128 --output_len 128\`${d.fp8Throughput ? ' and for fp8 `kiln bench throughput --num_requests 1024 --input_len 128 --output_len 128`' : ''}, KV budget ${budget ? `${n0(budget)} B` : '–'} for every format.`,
    ...(c ? [`- Ceilings of the same call: copy ${c.copy_GBps.toFixed(0)} GB/s, BF16 GEMM ${c.bf16_gemm_8192_TFLOPs.toFixed(0)} TFLOP/s. Decode ceiling = (weights − embedding table + 128 tokens of KV) ÷ copy rate.`] : []),
    '',
    '| build | weights / KV cache | weight bytes on the GPU | vs bf16 | KV pool tokens | KV B/token | batch-1 decode tok/s | vs bf16 | decode ceiling tok/s (% reached) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...table,
    '',
    `![quantization: batch-1 decode and weight bytes per format](bench/${d.prefix}quant.svg)`,
    '',
    'Memory split per format (bytes):',
    '',
    '| build | weights | KV pool | activations | other |',
    '| --- | --- | --- | --- | --- |',
    ...split,
    '',
    'Against the targets:',
    ...targetLines(d, rows, bf),
  ].join('\n');
}

function targetLines(d: RunData, rows: readonly { name: QuantName; r: BenchResult }[], bf: BenchResult | undefined): string[] {
  const get = (n: QuantName): BenchResult | undefined => rows.find((x) => x.name === n)?.r;
  const wRatio = (n: QuantName): number | undefined => (get(n)?.memory && bf?.memory ? get(n)!.memory!.weights / bf.memory.weights : undefined);
  const dRatio = (n: QuantName): number | undefined => (get(n)?.decodeTokPerS && bf?.decodeTokPerS ? get(n)!.decodeTokPerS! / bf.decodeTokPerS : undefined);
  const line = (what: string, x: number | undefined, fmt: (v: number) => string, ok: (v: number) => boolean): string =>
    `- ${what}: ${x === undefined ? 'not measured' : `${fmt(x)} — ${met(ok(x))}`}`;
  const tp = first(d.fp8Throughput);
  const kvB = get('bf16')?.kvPool?.capacityTokens;
  const kvF = get('kv-fp8')?.kvPool?.capacityTokens;
  // The same ratio over the quantized linears alone (memory minus the declared embedding + lm_head bytes, kept BF16 by default).
  const kept = (r: BenchResult | undefined): number | undefined => (r?.format ? (r.format.weightBytesByComponent['embeddings'] ?? 0) + (r.format.weightBytesByComponent['lm_head'] ?? 0) : undefined);
  const linears = (n: QuantName): string => {
    const r = get(n);
    const k = kept(r), kb = kept(bf);
    return r?.memory && bf?.memory && k !== undefined && kb !== undefined ? ` (the linears alone: ${pct((r.memory.weights - k) / (bf.memory.weights - kb))}; embedding table and lm_head stay BF16, ${n0(k)} B)` : '';
  };
  return [
    line('FP8 weights ≤ 52 % of BF16', wRatio('fp8'), (v) => `${pct(v)}${linears('fp8')}`, (v) => v <= 0.52),
    line('INT4 weights ≤ 30 % of BF16', wRatio('int4_wo'), (v) => `${pct(v)}${linears('int4_wo')}`, (v) => v <= 0.3),
    line('batch-1 decode FP8 ≥ 1.8× BF16', dRatio('fp8'), (v) => `${v.toFixed(2)}×`, (v) => v >= 1.8),
    line('batch-1 decode INT4 weight-only ≥ 2.8× BF16', dRatio('int4_wo'), (v) => `${v.toFixed(2)}×`, (v) => v >= 2.8),
    line('offline FP8 128/128 ≥ 28,312 output tok/s', tp?.outputTokPerS, (v) => `${n1(v)} output tok/s (${n0(tp!.numRequests)} requests)`, (v) => v >= 28312),
    line('FP8 KV cache doubles the KV pool\'s tokens (same KV budget)', kvB && kvF ? kvF / kvB : undefined, (v) => `${n0(kvF!)} vs ${n0(kvB!)} tokens = ${v.toFixed(2)}×`, (v) => v >= 2),
  ];
}
