/**
 * The generated issue-6 section of docs/PERFORMANCE.md: run facts, the same-run Kiln vs HF table
 * with targets (met or missed), serving, memory split, roofline arithmetic and the per-op profile's
 * headline. Every number comes from the run's JSON (perf-data.ts) or the model's config.json.
 */
import type { BenchResult } from '../../src/bench/types.js';
import type { ModelConfig } from '../../src/models/config.js';
import { first, kvBudget, type HfScenario, type RunData } from './perf-data.js';

/** Llama shapes from config.json: what the roofline and the compute floor need. */
export type LlamaShape = Pick<ModelConfig, 'hiddenSize' | 'intermediateSize' | 'numLayers' | 'numHeads' | 'numKvHeads' | 'headDim' | 'vocabSize'>;

export function llamaShape(config: Record<string, number>): LlamaShape {
  const hiddenSize = config['hidden_size']!;
  const numHeads = config['num_attention_heads']!;
  return {
    hiddenSize, intermediateSize: config['intermediate_size']!, numLayers: config['num_hidden_layers']!, numHeads,
    numKvHeads: config['num_key_value_heads'] ?? numHeads, headDim: config['head_dim'] ?? hiddenSize / numHeads, vocabSize: config['vocab_size']!,
  };
}

/** Parameters of the per-layer GEMMs (all but the embedding table and lm_head). */
export function gemmParams(m: LlamaShape): number {
  const attn = m.hiddenSize * (m.numHeads + 2 * m.numKvHeads) * m.headDim + m.numHeads * m.headDim * m.hiddenSize;
  return m.numLayers * (attn + 3 * m.hiddenSize * m.intermediateSize);
}
export const kvBytesPerToken = (m: LlamaShape, bytes: number): number => 2 * m.numLayers * m.numKvHeads * m.headDim * bytes;
export const embeddingBytes = (m: LlamaShape): number => m.vocabSize * m.hiddenSize * 2;

export const n1 = (x: number): string => x.toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
export const n0 = (x: number): string => x.toLocaleString('en-US', { maximumFractionDigits: 0 });
const ms1 = (x: number): string => `${x.toFixed(1)} ms`;

/** Decode roofline at `ctx` tokens of context: bytes one step must read (weights but the embedding table, KV) ÷ copy rate. */
export function decodeRoofline(weights: number, m: LlamaShape, ctx: number, kvElemBytes: number, copyGBps: number): { bytes: number; ms: number; tokPerS: number } {
  const bytes = weights - embeddingBytes(m) + ctx * kvBytesPerToken(m, kvElemBytes);
  const ms = bytes / (copyGBps * 1e6);
  return { bytes, ms, tokPerS: 1000 / ms };
}

const met = (ok: boolean | undefined): string => (ok === undefined ? '–' : ok ? '**met**' : '**missed**');
const hfNote = (s: HfScenario | undefined): string | undefined => s?.skipped ?? s?.error ?? (s?.status && s.status !== 'ok' ? s.status : undefined);

function hfOffline(s: HfScenario | undefined): string {
  if (!s || s.output_tok_s === undefined) return hfNote(s) ?? 'not run';
  const share = s.requests_asked !== undefined && s.requests_measured !== s.requests_asked ? `${n0(s.requests_measured!)} of ${n0(s.requests_asked)} requests in its time share` : `${n0(s.requests_measured ?? 0)} requests`;
  return `${n1(s.output_tok_s)} (eager, batch ${s.batch}, ${share})`;
}

function kilnOffline(r: BenchResult | undefined): string {
  return r ? `${n1(r.outputTokPerS)} output tok/s (${n0(r.numRequests)} requests)` : 'not run';
}

function compileCell(c: HfScenario | undefined): string {
  if (!c) return 'not run';
  if (c.status === 'ok' && c.decode_tok_s !== undefined) return `${n1(c.decode_tok_s)} tok/s (\`${c.mode}\`, compiled in ${c.compile_s!.toFixed(0)} s)`;
  if (c.status === 'budget spent') return `did not finish compiling within its ${c.budget_s?.toFixed(0)} s budget (${c.spent_s?.toFixed(0)} s spent, \`${c.mode}\`)`;
  return hfNote(c) ?? `stopped while ${c.status ?? 'starting'} (killed by the phase timeout)`;
}

export interface Issue6Numbers { readonly decodeTarget?: number; readonly ttftTarget?: number; readonly offlineTarget?: number }

export function issue6Section(d: RunData, m: LlamaShape): string {
  const k = d.kiln;
  const hf = d.hf?.results ?? {};
  const compile = d.hfCompile?.results['compile_static_decode_ctx128'];
  const lat128 = first(k['latency-128']);
  const lat2048 = first(k['latency-2048']);
  const ttft = first(k['ttft-1024']);
  const tp128 = first(k['throughput-128-128']);
  const c = d.ceilings;
  const weights = lat128?.memory?.weights;
  const roof = (ctx: number) => (c && weights ? decodeRoofline(weights, m, ctx, 2, c.copy_GBps) : undefined);
  const r128 = roof(128);
  const r2048 = roof(2048);
  const floorMs = c ? (2 * gemmParams(m) * 1024) / (c.bf16_gemm_8192_TFLOPs * 1e9) : undefined;
  const hfBest = Math.max(hf['eager_offline_128_128']?.output_tok_s ?? 0, hf['generate_batch_128_128']?.output_tok_s ?? 0);
  const offTarget = Math.max(15000, 10 * hfBest);
  const hfDecode = (s: HfScenario | undefined): string => (s?.decode_tok_s !== undefined ? `${n1(s.decode_tok_s)} tok/s (eager)` : hfNote(s) ?? 'not run');
  const kDecode = (r: BenchResult | undefined): string => (r?.decodeTokPerS !== undefined ? `${n1(r.decodeTokPerS)} tok/s (ITL p50 ${r.itlMs.p50.toFixed(2)} ms)` : 'not run');
  const gb = hf['generate_batch_128_128'];
  const rows = [
    ['batch-1 decode, 128 context', kDecode(lat128), hfDecode(hf['eager_decode_ctx128']), r128 ? `≥ 85 % of roofline = ${n1(0.85 * r128.tokPerS)} tok/s` : '–', met(r128 && lat128?.decodeTokPerS !== undefined ? lat128.decodeTokPerS >= 0.85 * r128.tokPerS : undefined)],
    ['batch-1 decode, 2048 context', kDecode(lat2048), hfDecode(hf['eager_decode_ctx2048']), r2048 ? `≥ 85 % of roofline = ${n1(0.85 * r2048.tokPerS)} tok/s` : '–', met(r2048 && lat2048?.decodeTokPerS !== undefined ? lat2048.decodeTokPerS >= 0.85 * r2048.tokPerS : undefined)],
    ['TTFT, 1,024-token prompt, batch 1 (p50)', ttft ? ms1(ttft.ttftMs.p50) : 'not run', hf['eager_ttft_1024']?.ttft_ms !== undefined ? `${ms1(hf['eager_ttft_1024'].ttft_ms)} (eager)` : hfNote(hf['eager_ttft_1024']) ?? 'not run', floorMs ? `≤ 2× compute floor = ${ms1(2 * floorMs)}` : '–', met(floorMs && ttft ? ttft.ttftMs.p50 <= 2 * floorMs : undefined)],
    ['offline 128/128', kilnOffline(tp128), `${hfOffline(hf['eager_offline_128_128'])}${gb?.output_tok_s !== undefined ? `; \`generate_batch\`: ${n1(gb.output_tok_s)} (${n0(gb.requests_measured ?? 0)} requests)` : ''}`, `≥ 15,000 and ≥ 10× HF's best (${n0(10 * hfBest)})`, met(tp128 ? tp128.outputTokPerS >= offTarget : undefined)],
    ['offline 2048/128', kilnOffline(first(k['throughput-2048-128'])), hfOffline(hf['eager_offline_2048_128']), 'no slower than the peer', met(peerOk(first(k['throughput-2048-128']), hf['eager_offline_2048_128']))],
    ['offline 1000/1000', kilnOffline(first(k['throughput-1000-1000'])), hfOffline(hf['eager_offline_1000_1000']), 'no slower than the peer', met(peerOk(first(k['throughput-1000-1000']), hf['eager_offline_1000_1000']))],
    ['HF static cache + torch.compile, batch 1, 128 context', kDecode(lat128), compileCell(compile), 'no slower than the peer', met(compile?.decode_tok_s !== undefined && lat128?.decodeTokPerS !== undefined ? lat128.decodeTokPerS >= compile.decode_tok_s : undefined)],
  ];
  const table = ['| scenario | Kiln (CUDA) | HF transformers | target | |', '| --- | --- | --- | --- | --- |', ...rows.map((r) => `| ${r.join(' | ')} |`)];
  const vsPeer = [
    lat128?.decodeTokPerS !== undefined && hf['eager_decode_ctx128']?.decode_tok_s !== undefined ? lat128.decodeTokPerS >= hf['eager_decode_ctx128'].decode_tok_s : undefined,
    lat2048?.decodeTokPerS !== undefined && hf['eager_decode_ctx2048']?.decode_tok_s !== undefined ? lat2048.decodeTokPerS >= hf['eager_decode_ctx2048'].decode_tok_s : undefined,
    ttft && hf['eager_ttft_1024']?.ttft_ms !== undefined ? ttft.ttftMs.p50 <= hf['eager_ttft_1024'].ttft_ms : undefined,
    tp128 && hfBest > 0 ? tp128.outputTokPerS >= hfBest : undefined,
    peerOk(first(k['throughput-2048-128']), hf['eager_offline_2048_128']), peerOk(first(k['throughput-1000-1000']), hf['eager_offline_1000_1000']),
    compile?.decode_tok_s !== undefined && lat128?.decodeTokPerS !== undefined ? lat128.decodeTokPerS >= compile.decode_tok_s : undefined,
  ].filter((x): x is boolean => x !== undefined);
  table.push('', `No scenario slower than a same-run peer (${vsPeer.length} comparisons): ${met(vsPeer.length > 0 ? vsPeer.every(Boolean) : undefined)}.`);
  return [
    ...runFacts(d),
    '',
    ...table,
    '',
    ...servingTable(d),
    ...stepPathLines(d),
    ...memoryLines(d),
    '',
    ...rooflineLines(d, m, r128, floorMs),
    ...profileLines(d),
  ].join('\n');
}

function peerOk(kiln: BenchResult | undefined, hf: HfScenario | undefined): boolean | undefined {
  return kiln && hf?.output_tok_s !== undefined ? kiln.outputTokPerS >= hf.output_tok_s : undefined;
}

function runFacts(d: RunData): string[] {
  const reports = Object.values(d.kiln);
  const dates = reports.map((r) => r!.date).sort();
  const node = reports[0]?.host.node;
  const kv = kvBudget(d.kiln['throughput-128-128']);
  const dev = d.device;
  const hf = d.hf;
  return [
    `- Card: ${dev?.card ?? hf?.device ?? 'not recorded'}${dev ? `, driver ${dev.driver}, CUDA ${dev.cuda}` : ''}; Kiln reports dated ${dates[0] ?? '–'} to ${dates.at(-1) ?? '–'}${dev ? ` (device call ${dev.started} – ${dev.finished})` : ''}.`,
    (dev ? `- Command (one device call): \`bash scripts/bench/run-on-device.sh ${dev.mode}\` — the card's ceilings and the Hugging Face peer (\`scripts/bench/hf_peers.py --phase eager\`, then \`--phase compile\`), then Kiln (\`scripts/cuda/run-bench-suite.sh\`)`
      : '- Command (one device call): `bash scripts/bench/run-on-device.sh` as of that run (before its phase split; the run recorded no device.json)') + `; this section is written by \`npx tsx scripts/bench/write-performance.ts --dir docs/bench --prefix ${d.prefix}\` from ${d.files.map((f) => `\`${f}\``).join(', ')}.`,
    ...(dev ? [`- Phases: ${dev.phases.map((p) => `${p.phase} ${p.skipped ? `skipped (${p.skipped})` : `${p.seconds} s (limit ${p.timeout_s} s${p.rc ? `, exit ${p.rc}` : ''})`}`).join('; ')}.`] : []),
    `- Kiln: Node ${node ?? '–'}, engine \`kiln build --target cuda --load_format dummy --max_batch_size 256 --max_input_len 2048 --max_output_len 1024 --max_num_tokens 8192\` from a Llama-3-8B config.json (scripts/cuda/llama3-8b-config.json; random BF16 weights filled on the GPU), KV budget ${kv ? `${n0(kv)} B` : '–'}, sampling on the GPU, greedy, ignore_eos.`,
    ...(hf ? [`- Peer: torch ${hf.torch}, transformers ${hf.transformers}, \`LlamaForCausalLM\` with the same shapes (${hf.layers} layers) and random BF16 weights: ${peerModes(d).join(', ')}.`] : []),
    ...(d.ceilings ? [`- Card ceilings, same run: device-to-device copy ${d.ceilings.copy_GBps.toFixed(0)} GB/s (bytes read + written); BF16 GEMM 8192³ through torch ${d.ceilings.bf16_gemm_8192_TFLOPs.toFixed(0)} TFLOP/s.`] : []),
  ];
}

function peerModes(d: RunData): string[] {
  const r = d.hf?.results ?? {};
  return [
    'eager `generate` (greedy)',
    ...(r['generate_batch_128_128']?.output_tok_s !== undefined ? ['`generate_batch` (continuous batching)'] : []),
    ...(d.hfCompile ? ['static cache + `torch.compile` (its own phase)'] : []),
  ];
}

function servingTable(d: RunData): string[] {
  const s = d.kiln.serve;
  if (!s) return ['Serving: not run in this call.', ''];
  const r0 = s.results[0]!;
  return [
    `Serving (\`kiln bench serve\` against the engine behind \`startServer\` on 127.0.0.1, ISL/OSL ${r0.meanInputLen.toFixed(0)}/${r0.meanOutputLen.toFixed(0)}, streaming; no same-run serving peer):`,
    '',
    '| concurrent streams | requests | output tok/s | TTFT p50 / p99 ms | ITL p50 / p99 ms |',
    '| --- | --- | --- | --- | --- |',
    ...s.results.map((r) => `| ${r.concurrency ?? '–'} | ${r.numRequests} | ${n1(r.outputTokPerS)} | ${n1(r.ttftMs.p50)} / ${n1(r.ttftMs.p99)} | ${r.itlMs.p50.toFixed(2)} / ${r.itlMs.p99.toFixed(2)} |`),
    '',
    `![serving: TTFT and throughput against concurrency](bench/${d.prefix}kiln-serve.svg)`,
    '',
  ];
}

/** Same-run A/B of batch-1 decode (128/128) across the step paths and decode kernels: tokens/s and event-loop delay. */
function stepPathLines(d: RunData): string[] {
  const variants = [
    ['async steps, step N+1 scheduled while N runs (default)', 'latency-128'],
    ['async steps without speculative scheduling (`KILN_ASYNC_SCHEDULING=0`)', 'latency-128-nospec'],
    ['synchronous steps (`KILN_SYNC_STEPS=1`)', 'latency-128-sync'],
    ['default step path, decode attention v1 (`KILN_DECODE_KERNEL=v1`)', 'latency-128-decode-v1'],
    ['default step path, cuBLASLt for every GEMM (`KILN_GEMV=0`)', 'latency-128-no-gemv'],
  ] as const;
  const rows = variants.flatMap(([name, key]) => {
    const r = first(d.kiln[key]);
    if (r?.decodeTokPerS === undefined) return [];
    const loop = r.eventLoopDelayMs;
    const loopCell = loop ? `${loop.p50.toFixed(2)} / ${loop.p99.toFixed(2)} / ${loop.max.toFixed(2)}` : 'not recorded';
    return [`| ${name} | ${r.numRequests} | ${n1(r.decodeTokPerS)} | ${r.itlMs.p50.toFixed(2)} / ${r.itlMs.p99.toFixed(2)} | ${loopCell} |`];
  });
  if (rows.length < 2) return [];
  return [
    'Step paths and decode kernels, same run (batch-1 decode, 128/128; event loop = the interval between ticks of a 1 ms timer during the run, node:perf_hooks monitorEventLoopDelay: 1.00 ms is on time, the excess is how long the loop was blocked):',
    '',
    '| path | requests | decode tok/s | ITL p50 / p99 ms | event loop: 1 ms timer interval p50 / p99 / max ms |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ];
}

function memoryLines(d: RunData): string[] {
  const tp = first(d.kiln['throughput-128-128']);
  const mem = tp?.memory;
  if (!mem) return [];
  const frag = (['throughput-128-128', 'throughput-2048-128', 'throughput-1000-1000'] as const)
    .map((s) => [s, first(d.kiln[s])] as const).filter(([, r]) => r?.fragmentation !== null && r?.fragmentation !== undefined)
    .map(([s, r]) => `${(100 * r!.fragmentation!).toFixed(1)} % at ${s.replace('throughput-', '').replace('-', '/')}`);
  const host = first(d.kiln['throughput-128-128-host-sampling']);
  const v1 = first(d.kiln['throughput-128-128-decode-v1']);
  return [
    `Memory split (offline 128/128): weights ${n0(mem.weights)} B, KV pool ${n0(mem.kvCache)} B, activations ${n0(mem.activations)} B, other ${n0(mem.other)} B.` +
      (tp.kvPool ? ` KV pool: ${n0(tp.kvPool.capacityTokens)} tokens (${tp.kvPool.numBlocks} blocks of ${tp.kvPool.tokensPerBlock}).` : '') +
      (frag.length ? ` KV fragmentation: ${frag.join(', ')}.` : ''),
    ...(v1 ? ['', `Same-run effect of the decode attention kernel (offline 128/128, up to 256 sequences per step): ${n1(tp.outputTokPerS)} output tok/s with the default kernel against ${n1(v1.outputTokPerS)} with \`KILN_DECODE_KERNEL=v1\` (${n0(v1.numRequests)} requests each).`] : []),
    ...(host ? ['', `Same-run effect of sampling on the GPU (offline 128/128, \`KILN_HOST_SAMPLING=1\`): ${n1(host.outputTokPerS)} output tok/s (${n0(host.numRequests)} requests) against ${n1(tp.outputTokPerS)} (${n0(tp.numRequests)} requests) with only token ids coming back.`] : []),
  ];
}

function rooflineLines(d: RunData, m: LlamaShape, r128: { bytes: number; ms: number; tokPerS: number } | undefined, floorMs: number | undefined): string[] {
  const c = d.ceilings;
  if (!c) return [];
  const w = first(d.kiln['latency-128'])?.memory?.weights;
  return [
    'Roofline arithmetic (from the numbers above):',
    ...(r128 && w ? [`- batch-1 decode at 128 context: weights ${n0(w)} B − embedding table ${n0(embeddingBytes(m))} B (one row read per token) + KV ${n0(128 * kvBytesPerToken(m, 2))} B = ${n0(r128.bytes)} B per step ÷ ${c.copy_GBps.toFixed(0)} GB/s = ${r128.ms.toFixed(2)} ms → ${n1(r128.tokPerS)} tok/s; Kiln's ${n1(first(d.kiln['latency-128'])!.decodeTokPerS!)} tok/s is ${(100 * first(d.kiln['latency-128'])!.decodeTokPerS! / r128.tokPerS).toFixed(0)} % of it.`] : []),
    ...(floorMs ? [`- TTFT compute floor: 2 × ${n0(gemmParams(m))} GEMM parameters (all but the embedding table and lm_head, which runs for one token) × 1024 tokens ÷ ${c.bf16_gemm_8192_TFLOPs.toFixed(0)} TFLOP/s = ${ms1(floorMs)}` +
      (first(d.kiln['ttft-1024']) ? `; Kiln's ${ms1(first(d.kiln['ttft-1024'])!.ttftMs.p50)} is ${(first(d.kiln['ttft-1024'])!.ttftMs.p50 / floorMs).toFixed(2)}× the floor.` : '.')] : []),
    '',
  ];
}

function profileLines(d: RunData): string[] {
  const p = d.profile;
  if (!p) return [];
  const lines = [`Per-op GPU profile (\`scripts/cuda/profile-ops.ts\`, KILN_CUDA_PROFILE=ops, ${p.date}, median of ${p.iters} steps; full tables in \`docs/bench/${d.prefix}profile-ops.md\`):`];
  for (const s of p.scenarios) {
    const top = s.groups.slice(0, 4).map((g) => `${g.key} ${g.ms.toFixed(3)} ms (${(100 * g.share).toFixed(0)} %)`).join(', ');
    const gemm = s.groups.filter((g) => g.kind === 'gemm').reduce((a, g) => a + g.ms, 0);
    lines.push(`- ${s.name}: ops sum to ${s.sumOpsMs.toFixed(3)} ms (GEMMs ${gemm.toFixed(3)} ms, the rest ${(s.sumOpsMs - gemm).toFixed(3)} ms)` +
      (s.graphWallMs !== null ? `; CUDA-graph step ${s.graphWallMs.toFixed(3)} ms, so ${(s.graphWallMs - s.sumOpsMs).toFixed(3)} ms outside the ops` : `; eager step ${s.eagerWallMs.toFixed(3)} ms`) + `. Largest: ${top}.`);
  }
  return [...lines, ''];
}
