/**
 * `kiln quickstart`: the README's first command. Offline, no GPU: writes the embedded
 * default model (seeded random weights + a tokenizer, made by Kiln itself) or takes
 * `--model_dir`, then converts, builds and runs it, printing text and timings.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { writeTinyModel } from '../../checkpoint/tiny-model.js';
import { LLM } from '../../runtime/llm.js';
import { collect, parsePositiveInt } from '../args.js';
import { runBuild } from './build.js';
import { runConvert } from './convert.js';

interface QuickstartOptions {
  model_dir?: string;
  work_dir: string;
  prompt?: string[];
  max_new_tokens: number;
}

const DEFAULT_PROMPTS = ['The kiln fires the clay', 'Once upon a time,'];

export function registerQuickstart(program: Command): void {
  program
    .command('quickstart')
    .description('make (or take) a model, convert, build and run it on the CPU — offline')
    .option('--model_dir <dir>', 'a Hugging Face model directory instead of the built-in tiny model')
    .option('--work_dir <dir>', 'where checkpoints and engines go', '.kiln-cache/quickstart')
    .option('--prompt <text>', 'prompt (repeatable)', collect)
    .option('--max_new_tokens <n>', 'tokens to generate', parsePositiveInt('max_new_tokens'), 24)
    .action(async (opts: QuickstartOptions) => {
      await quickstart(opts);
    });
}

async function timed<T>(label: string, fn: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now();
  const out = await fn();
  process.stderr.write(`${label}: ${(performance.now() - t0).toFixed(0)} ms\n`);
  return out;
}

async function quickstart(opts: QuickstartOptions): Promise<void> {
  const work = resolve(opts.work_dir);
  mkdirSync(work, { recursive: true });
  let modelDir = opts.model_dir;
  if (!modelDir) {
    modelDir = join(work, 'tiny-llama-hf');
    if (!existsSync(join(modelDir, 'config.json'))) {
      const dir = modelDir;
      await timed('write built-in tiny model', () => writeTinyModel(dir, { seed: 0 }));
    }
  }
  const ckpt = join(work, 'checkpoint');
  const engine = join(work, 'engine');
  await timed('convert', () => runConvert(modelDir, ckpt, 'float32'));
  await timed('build', () => runBuild({ checkpoint_dir: ckpt, output_dir: engine, target: 'cpu' }));
  const llm = await timed('load engine', () => new LLM({ engineDir: engine }));
  const prompts = opts.prompt ?? DEFAULT_PROMPTS;
  const t0 = performance.now();
  const results = await llm.generate(prompts.map((prompt) => ({ prompt, params: { maxNewTokens: opts.max_new_tokens, temperature: 0 } })));
  const seconds = (performance.now() - t0) / 1000;
  for (const r of results) {
    process.stdout.write(`\n>>> ${r.prompt ?? ''}\n${r.outputs[0]?.text ?? ''}\n`);
  }
  const tokens = results.reduce((s, r) => s + (r.outputs[0]?.tokenIds.length ?? 0), 0);
  const ttft = results.reduce((s, r) => s + r.ttftMs, 0) / results.length;
  process.stderr.write(`\ngenerate: ${tokens} tokens in ${seconds.toFixed(2)} s (${(tokens / seconds).toFixed(1)} tok/s), mean TTFT ${ttft.toFixed(1)} ms\n`);
  if (!opts.model_dir) process.stderr.write('(the built-in model has random weights: its text is gibberish by design; pass --model_dir for a real model)\n');
  llm.dispose();
}
