/** `kiln build`: Kiln checkpoint → engine directory (passes, planning, engine file). */
import type { Command } from 'commander';
import { buildFromCheckpoint } from '../../builder/build-command.js';
import type { BuildSettings, Target } from '../../engine/types.js';
import { ConfigError } from '../../errors/index.js';
import { parsePositiveInt } from '../args.js';

export interface BuildFlags {
  checkpoint_dir: string;
  output_dir: string;
  target: string;
  max_batch_size?: number;
  max_input_len?: number;
  max_output_len?: number;
  max_num_tokens?: number;
}

export function parseTarget(value: string): Target {
  if (value === 'cpu' || value === 'cuda') return value;
  throw new ConfigError(`--target must be cpu or cuda, got '${value}'`);
}

export function settingsFromFlags(f: BuildFlags): Partial<BuildSettings> {
  const s: { -readonly [K in keyof BuildSettings]?: BuildSettings[K] } = {};
  if (f.max_batch_size !== undefined) s.maxBatchSize = f.max_batch_size;
  if (f.max_input_len !== undefined) s.maxInputLen = f.max_input_len;
  if (f.max_output_len !== undefined) s.maxOutputLen = f.max_output_len;
  if (f.max_num_tokens !== undefined) s.maxNumTokens = f.max_num_tokens;
  return s;
}

export async function runBuild(f: BuildFlags): Promise<void> {
  const started = performance.now();
  await buildFromCheckpoint({
    checkpointDir: f.checkpoint_dir,
    outputDir: f.output_dir,
    target: parseTarget(f.target),
    settings: settingsFromFlags(f),
    onLog: (line: string) => process.stderr.write(`[build] ${line}\n`),
  });
  process.stderr.write(`built ${f.output_dir} in ${((performance.now() - started) / 1000).toFixed(2)} s\n`);
}

export function registerBuild(program: Command): void {
  program
    .command('build')
    .description('compile a Kiln checkpoint ahead of time into an engine')
    .requiredOption('--checkpoint_dir <dir>', 'Kiln checkpoint written by kiln convert')
    .requiredOption('--output_dir <dir>', 'engine directory to write')
    .option('--target <target>', 'cpu | cuda', 'cpu')
    .option('--max_batch_size <n>', 'sequences per step', parsePositiveInt('max_batch_size'))
    .option('--max_input_len <n>', 'longest prompt in tokens', parsePositiveInt('max_input_len'))
    .option('--max_output_len <n>', 'most generated tokens per request', parsePositiveInt('max_output_len'))
    .option('--max_num_tokens <n>', 'token budget of one step', parsePositiveInt('max_num_tokens'))
    .action(async (opts: BuildFlags) => {
      await runBuild(opts);
    });
}
