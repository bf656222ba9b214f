/**
 * `kiln bench throughput|latency|serve`: measure an engine in-process or a running server.
 * Prints a markdown table; `--output_json` writes the report, `--output_svg` a chart.
 */
import { cpus } from 'node:os';
import type { Command } from 'commander';
import { benchLatency, benchThroughput } from '../../bench/offline.js';
import { markdownReport, svgChart, writeFileAtomic } from '../../bench/report.js';
import { benchServe } from '../../bench/serve.js';
import type { BenchReport, BenchResult } from '../../bench/types.js';
import { readDataset, syntheticWorkload, type BenchRequest } from '../../bench/workload.js';
import { ConfigError } from '../../errors/index.js';
import { LLM } from '../../runtime/llm.js';
import { parseNonNegativeInt, parseNumber, parsePositiveInt } from '../args.js';
import { tpPreamble } from '../../tp/cli.js';

interface WorkloadFlags {
  num_requests: number;
  input_len: number;
  output_len: number;
  input_std: number;
  output_std: number;
  dataset?: string;
  seed: number;
  output_json?: string;
  output_svg?: string;
}

interface OfflineFlags extends WorkloadFlags { engine_dir: string; backend?: string; kv_cache_bytes?: number; tp_size?: number }
interface ServeFlags extends WorkloadFlags { url: string; model?: string; api_key?: string; concurrency: string; request_rate?: number; vocab_size?: number }

function addWorkloadFlags(cmd: Command, defaults: { numRequests: number; inputLen: number; outputLen: number }): Command {
  return cmd
    .option('--num_requests <n>', 'requests', parsePositiveInt('num_requests'), defaults.numRequests)
    .option('--input_len <n>', 'mean prompt tokens', parsePositiveInt('input_len'), defaults.inputLen)
    .option('--output_len <n>', 'mean generated tokens (ignore_eos)', parsePositiveInt('output_len'), defaults.outputLen)
    .option('--input_std <x>', 'std of prompt lengths (0 = fixed)', parseNumber('input_std'), 0)
    .option('--output_std <x>', 'std of output lengths (0 = fixed)', parseNumber('output_std'), 0)
    .option('--dataset <file>', 'JSONL of {"prompt_token_ids": [...], "output_len": N} instead of synthetic requests')
    .option('--seed <n>', 'workload seed', parseNonNegativeInt('seed'), 0)
    .option('--output_json <file>', 'write the report as JSON')
    .option('--output_svg <file>', 'write a chart of the results as SVG');
}

function workload(f: WorkloadFlags, vocabSize: number): BenchRequest[] {
  if (f.dataset) return readDataset(f.dataset);
  return syntheticWorkload({ numRequests: f.num_requests, inputLen: f.input_len, outputLen: f.output_len, inputStd: f.input_std, outputStd: f.output_std, vocabSize, seed: f.seed });
}

async function emit(results: BenchResult[], f: WorkloadFlags, engine: string | null, device: string): Promise<void> {
  const report: BenchReport = {
    kiln: '0.1.0', date: new Date().toISOString(),
    host: { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length, device },
    command: `kiln ${process.argv.slice(2).join(' ')}`, engine, results,
  };
  process.stdout.write(`${markdownReport(report)}\n`);
  if (f.output_json) writeFileAtomic(f.output_json, `${JSON.stringify(report, null, 2)}\n`);
  if (f.output_svg) writeFileAtomic(f.output_svg, await svgChart(results, report.command));
}

async function runOffline(mode: 'throughput' | 'latency', f: OfflineFlags): Promise<void> {
  const llm = new LLM({
    engineDir: f.engine_dir,
    ...(f.backend ? { backend: f.backend as 'cpu' | 'cuda' } : {}),
    ...(f.kv_cache_bytes ? { kvCacheBytes: f.kv_cache_bytes } : {}),
  });
  try {
    const requests = workload(f, llm.vocabSize);
    await llm.generate([{ promptTokenIds: requests[0]!.promptTokenIds, params: { maxNewTokens: 2, ignoreEos: true } }]); // warm-up
    const label = `${mode} ${Math.round(f.input_len)}/${Math.round(f.output_len)}`;
    const result = mode === 'throughput' ? await benchThroughput(llm, requests, label) : await benchLatency(llm, requests, label);
    await emit([result], f, f.engine_dir, llm.engine.config.target === 'cpu' ? 'cpu backend' : `cuda ${llm.engine.config.gpuArch ?? ''}`);
  } finally {
    llm.dispose();
  }
}

async function modelCard(f: ServeFlags): Promise<{ id: string; vocabSize: number | undefined }> {
  const res = await fetch(`${f.url.replace(/\/$/, '')}/v1/models`, { headers: f.api_key ? { authorization: `Bearer ${f.api_key}` } : {} });
  if (!res.ok) throw new ConfigError(`--url ${f.url}: GET /v1/models answered ${res.status}; is an OpenAI-compatible server running there?`);
  const body = (await res.json()) as { data?: { id: string; vocab_size?: number }[] };
  const card = body.data?.[0];
  if (!card) throw new ConfigError(`--url ${f.url}: /v1/models lists no model; pass --model`);
  return { id: card.id, vocabSize: card.vocab_size };
}

async function runServe(f: ServeFlags): Promise<void> {
  const card = await modelCard(f);
  const vocab = f.vocab_size ?? card.vocabSize;
  if (!vocab) throw new ConfigError('--vocab_size is needed: the server does not report its vocabulary size');
  const levels = f.concurrency.split(',').map((c) => parsePositiveInt('concurrency')(c.trim()));
  const results: BenchResult[] = [];
  for (const concurrency of f.request_rate ? [0] : levels) {
    const requests = workload(f, vocab);
    const label = f.request_rate ? `rate ${f.request_rate}/s` : `${concurrency} streams`;
    results.push(await benchServe({ baseUrl: f.url, model: f.model ?? card.id, concurrency, seed: f.seed, ...(f.api_key ? { apiKey: f.api_key } : {}), ...(f.request_rate ? { requestRate: f.request_rate } : {}) }, requests, label));
    process.stderr.write(`done: ${label}\n`);
  }
  await emit(results, f, null, `server at ${f.url}`);
}

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmark an engine (throughput, latency) or a running server (serve)');
  const offline = (name: 'throughput' | 'latency', desc: string, d: { numRequests: number; inputLen: number; outputLen: number }): void => {
    const cmd = bench.command(name).description(desc)
      .requiredOption('--engine_dir <dir>', 'engine directory')
      .option('--backend <name>', 'cpu or cuda (default: the engine target)')
      .option('--kv_cache_bytes <n>', 'KV cache budget in bytes', parsePositiveInt('kv_cache_bytes'))
      .option('--tp_size <n>', 'tensor-parallel ranks (must match the engine): one process per GPU; under mpirun -n N ranks come from MPI', parsePositiveInt('tp_size'));
    addWorkloadFlags(cmd, d).action(async (f: OfflineFlags) => { if (await tpPreamble(f.tp_size, f.engine_dir) !== 'rank') await runOffline(name, f); });
  };
  offline('throughput', 'every request queued at once (ignore_eos): tokens/s, TTFT, ITL, memory, fragmentation', { numRequests: 64, inputLen: 32, outputLen: 32 });
  offline('latency', 'one request at a time: prefill (TTFT) and decode timed apart', { numRequests: 3, inputLen: 32, outputLen: 32 });
  const serve = bench.command('serve').description('stream requests to an OpenAI-compatible server at a concurrency or request rate')
    .requiredOption('--url <url>', 'server base URL, e.g. http://127.0.0.1:8000')
    .option('--model <name>', 'model name (default: the first of /v1/models)')
    .option('--api_key <key>', 'bearer token')
    .option('--concurrency <list>', 'streams in flight, comma-separated levels (e.g. 1,8,64)', '1')
    .option('--request_rate <r>', 'Poisson arrivals per second instead of fixed concurrency', parseNumber('request_rate'))
    .option('--vocab_size <n>', 'token ids are drawn below this (default: from /v1/models)', parsePositiveInt('vocab_size'));
  addWorkloadFlags(serve, { numRequests: 32, inputLen: 32, outputLen: 32 }).action(async (f: ServeFlags) => runServe(f));
}
