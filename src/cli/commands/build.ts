/** `kiln build`: Kiln checkpoint → engine directory (passes, planning, engine file). */
import type { Command } from 'commander';
import { buildFromCheckpoint } from '../../builder/build-command.js';
import { buildTensorParallelFromCheckpoint } from '../../tp/build.js';
import type { BuildSettings, Target } from '../../engine/types.js';
import { ConfigError } from '../../errors/index.js';
import { parsePositiveInt } from '../args.js';
import { parseQuantFlags, type QuantFlags } from '../../quant/flags.js';
import { parseBuildDtype } from '../../builder/dtype.js';

export interface BuildFlags extends QuantFlags {
  checkpoint_dir: string;
  output_dir: string;
  target: string;
  max_batch_size?: number;
  max_input_len?: number;
  max_output_len?: number;
  max_num_tokens?: number;
  /** Tensor-parallel ranks (rank0.engine … rank{N-1}.engine); default 1. */
  tp_size?: number;
  /** auto | dummy (random weights from config.json alone). */
  load_format?: string;
  dummy_seed?: number;
  /** cuBLASLt timing-cache file for --target cuda. */
  timing_cache?: string;
  /** auto | bfloat16 | float16 (the engine's compute and weight dtype). */
  dtype?: string;
}

export function parseLoadFormat(value: string | undefined): 'auto' | 'dummy' {
  if (value === undefined || value === 'auto' || value === 'dummy') return value ?? 'auto';
  throw new ConfigError(`--load_format must be auto or dummy, got '${value}'`);
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
  const build = (f.tp_size ?? 1) > 1 ? buildTensorParallelFromCheckpoint : buildFromCheckpoint;
  const quant = parseQuantFlags(f);
  if ((f.tp_size ?? 1) > 1 && (quant.format !== undefined || quant.kvCacheDtype === 'fp8')) throw new ConfigError('quantized builds are single-rank for now: drop --tp_size or the quantization flags');
  const dtype = parseBuildDtype(f.dtype);
  if ((f.tp_size ?? 1) > 1 && dtype !== 'auto') throw new ConfigError('--dtype applies to single-rank builds for now: drop --tp_size or --dtype');
  await build({
    ...(f.tp_size !== undefined ? { tpSize: f.tp_size } : {}),
    checkpointDir: f.checkpoint_dir,
    outputDir: f.output_dir,
    target: parseTarget(f.target),
    settings: settingsFromFlags(f),
    onLog: (line: string) => process.stderr.write(`[build] ${line}\n`),
    ...((f.tp_size ?? 1) > 1 ? {} : { quant }),
    loadFormat: parseLoadFormat(f.load_format),
    ...(f.dummy_seed !== undefined ? { dummySeed: f.dummy_seed } : {}),
    ...(f.timing_cache !== undefined ? { timingCache: f.timing_cache } : {}),
    dtype,
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
    .option('--dtype <dtype>', 'auto (the checkpoint\'s; float32 → bfloat16 for cuda) | bfloat16 | float16: weights are rounded to it', 'auto')
    .option('--load_format <format>', 'auto | dummy (random weights from config.json alone, for benchmarks)', 'auto')
    .option('--dummy_seed <n>', 'seed of the --load_format dummy weights', parsePositiveInt('dummy_seed'))
    .option('--timing_cache <file>', '--target cuda: cuBLASLt timing cache (default ~/.cache/kiln/cublaslt-timing.json)')
    .option('--tp_size <n>', 'tensor-parallel ranks: writes rank0.engine … rank{N-1}.engine (cpu or cuda target; cuda: kernels and GEMM tactics for the shard shapes)', parsePositiveInt('tp_size'))
    .option('--quant <format>', 'quantize weights: fp8 | int8_wo | int4_wo (lm_head and embeddings stay unquantized)')
    .option('--group_size <n>', 'int8_wo/int4_wo group size along K: 128 | 64', '128')
    .option('--awq', 'int8_wo/int4_wo: AWQ activation-aware per-channel scales from calibration')
    .option('--calib_size <n>', 'calibration prompts (static fp8 scales, AWQ, fp8 KV scales); 0: none', '16')
    .option('--kv_cache_dtype <dtype>', 'auto | fp8 (per-layer K/V scales, 1 byte per element)', 'auto')
    .option('--fp8_weight_scale <granularity>', 'fp8 weight scales: tensor | channel', 'tensor')
    .option('--fp8_activation <mode>', 'fp8 activation scales: static (calibrated) | dynamic (per token)', 'static')
    .action(async (opts: BuildFlags) => {
      await runBuild(opts);
    });
}
