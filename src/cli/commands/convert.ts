/** `kiln convert`: HF checkpoint → Kiln checkpoint in the chosen dtype. */
import type { Command } from 'commander';
import { convertCheckpoint } from '../../checkpoint/convert.js';
import { ConfigError } from '../../errors/index.js';
import { createProgress } from '../progress.js';

const DTYPES = ['float32', 'float16', 'bfloat16'] as const;
type ConvertDType = (typeof DTYPES)[number];

export function parseDType(value: string): ConvertDType {
  if ((DTYPES as readonly string[]).includes(value)) return value as ConvertDType;
  throw new ConfigError(`--dtype must be one of ${DTYPES.join(', ')}, got '${value}'`);
}

export async function runConvert(modelDir: string, outputDir: string, dtype: ConvertDType): Promise<void> {
  const progress = createProgress('converting');
  const started = performance.now();
  try {
    await convertCheckpoint({ modelDir, outputDir, dtype, onProgress: (done, total, name) => progress.update(done, total, name) });
  } finally {
    progress.stop();
  }
  process.stderr.write(`converted ${modelDir} → ${outputDir} (${dtype}) in ${((performance.now() - started) / 1000).toFixed(2)} s\n`);
}

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description('convert a Hugging Face checkpoint (safetensors) into a Kiln checkpoint')
    .requiredOption('--model_dir <dir>', 'Hugging Face model directory (config.json + *.safetensors)')
    .requiredOption('--output_dir <dir>', 'where to write the Kiln checkpoint')
    .option('--dtype <dtype>', 'float32 | float16 | bfloat16', 'float32')
    .action(async (opts: { model_dir: string; output_dir: string; dtype: string }) => {
      await runConvert(opts.model_dir, opts.output_dir, parseDType(opts.dtype));
    });
}
