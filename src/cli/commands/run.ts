/**
 * `kiln run`: generate for one or many prompts, batched through the scheduler, with a
 * progress bar and a summary; `--json` prints one object per prompt in input order.
 */
import type { Command } from 'commander';
import { ConfigError } from '../../errors/index.js';
import type { GenerateRequest, RequestResult } from '../../runtime/api.js';
import { LLM } from '../../runtime/llm.js';
import { collect, parsePositiveInt } from '../args.js';
import { createProgress } from '../progress.js';
import { tpPreamble } from '../../tp/cli.js';
import { readPromptsFile, type PromptEntry } from '../prompts-file.js';
import { addSamplingFlags, samplingFieldsFromOptions, toSamplingParams } from '../sampling-flags.js';

interface RunOptions {
  engine_dir: string;
  prompt?: string[];
  prompts_file?: string;
  json?: boolean;
  backend?: string;
  kv_cache_bytes?: number;
  tp_size?: number;
  [key: string]: unknown;
}

export function registerRun(program: Command): void {
  const cmd = program
    .command('run')
    .description('generate text with a built engine')
    .requiredOption('--engine_dir <dir>', 'engine directory written by kiln build')
    .option('--prompt <text>', 'a prompt (repeatable)', collect)
    .option('--prompts_file <file>', 'one prompt per line, or JSONL {"prompt": ..., sampling fields}')
    .option('--backend <name>', 'cpu or cuda (default: the engine target)')
    .option('--kv_cache_bytes <n>', 'KV cache budget in bytes (default 256 MiB on CPU, 2 GiB on CUDA)', parsePositiveInt('kv_cache_bytes'))
    .option('--tp_size <n>', 'tensor-parallel ranks (must match the engine): one process per GPU; under mpirun -n N ranks come from MPI', parsePositiveInt('tp_size'))
    .option('--json', 'print one JSON object per prompt');
  addSamplingFlags(cmd).action(async (opts: RunOptions) => {
    if (await tpPreamble(opts.tp_size, opts.engine_dir) === 'rank') return;
    const defaults = { max_new_tokens: 32, ...samplingFieldsFromOptions(opts) };
    const entries = collectPrompts(opts);
    await runPrompts(opts, entries.map((e) => ({ prompt: e.prompt, params: toSamplingParams({ ...defaults, ...e.fields }) })));
  });
}

function collectPrompts(opts: RunOptions): PromptEntry[] {
  const entries: PromptEntry[] = (opts.prompt ?? []).map((prompt) => ({ prompt, fields: {} }));
  if (opts.prompts_file) entries.push(...readPromptsFile(opts.prompts_file));
  if (entries.length === 0) throw new ConfigError('kiln run needs --prompt TEXT (repeatable) or --prompts_file FILE');
  return entries;
}

async function runPrompts(opts: RunOptions, requests: GenerateRequest[]): Promise<void> {
  const llm = new LLM({
    engineDir: opts.engine_dir,
    ...(opts.backend ? { backend: opts.backend as 'cpu' | 'cuda' } : {}),
    ...(opts.kv_cache_bytes ? { kvCacheBytes: opts.kv_cache_bytes } : {}),
  });
  const progress = createProgress('generating');
  const started = performance.now();
  const timer = setInterval(() => {
    const s = llm.stats();
    progress.update(s.numGeneratedTokens, totalBudget(requests), `tokens, ${s.numRunning} running`);
  }, 250);
  let results: RequestResult[];
  try {
    results = await llm.generate(requests);
  } finally {
    clearInterval(timer);
    progress.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  if (opts.json) {
    for (const r of results) process.stdout.write(`${JSON.stringify(toJson(r))}\n`);
  } else {
    for (const r of results) printResult(r);
  }
  printSummary(results, seconds);
  llm.dispose();
}

function totalBudget(requests: GenerateRequest[]): number {
  return requests.reduce((sum, r) => sum + (r.params?.maxNewTokens ?? 16) * (r.params?.n ?? 1), 0);
}

function toJson(r: RequestResult): Record<string, unknown> {
  const first = r.outputs[0];
  const base: Record<string, unknown> = {
    prompt: r.prompt,
    prompt_token_ids: r.promptTokenIds,
    output_token_ids: first?.tokenIds ?? [],
    output_text: first?.text ?? '',
    finish_reason: first?.finishReason ?? null,
  };
  if (first?.logprobs) base.logprobs = first.logprobs;
  if (r.outputs.length > 1) {
    base.outputs = r.outputs.map((o) => ({ output_token_ids: o.tokenIds, output_text: o.text, finish_reason: o.finishReason, ...(o.score !== undefined ? { score: o.score } : {}) }));
  }
  return base;
}

function printResult(r: RequestResult): void {
  process.stdout.write(`\n>>> ${r.prompt ?? ''}\n`);
  for (const o of r.outputs) {
    const tag = r.outputs.length > 1 ? `[${o.index}] ` : '';
    process.stdout.write(`${tag}${o.text}\n    (${o.tokenIds.length} tokens, ${o.finishReason})\n`);
  }
}

function printSummary(results: RequestResult[], seconds: number): void {
  const tokens = results.reduce((s, r) => s + r.outputs.reduce((t, o) => t + o.tokenIds.length, 0), 0);
  const promptTokens = results.reduce((s, r) => s + r.promptTokenIds.length, 0);
  const meanTtft = results.reduce((s, r) => s + r.ttftMs, 0) / Math.max(1, results.length);
  process.stderr.write(
    `\n${results.length} requests, ${promptTokens} prompt tokens, ${tokens} generated tokens in ${seconds.toFixed(2)} s ` +
      `(${(tokens / seconds).toFixed(1)} tok/s), mean TTFT ${meanTtft.toFixed(1)} ms\n`,
  );
}
