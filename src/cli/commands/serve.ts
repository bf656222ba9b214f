/** `kiln serve`: the OpenAI- and Triton-compatible HTTP server. */
import type { Command } from 'commander';
import { ConfigError } from '../../errors/index.js';
import { startServer } from '../../server/serve.js';
import { parsePositiveInt } from '../args.js';
import { tpPreamble } from '../../tp/cli.js';

interface ServeOptions {
  engine_dir?: string;
  model_dir?: string;
  host: string;
  port: number;
  api_key?: string;
  max_queue?: number;
  backend?: string;
  kv_cache_bytes?: number;
  tp_size?: number;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve an engine over HTTP (OpenAI and Triton generate protocols)')
    .option('--engine_dir <dir>', 'engine directory written by kiln build')
    .option('--model_dir <dir>', 'Hugging Face model directory (converted and built into a cache on first use)')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--port <port>', 'TCP port', parsePositiveInt('port'), 8000)
    .option('--api_key <key>', 'require Authorization: Bearer KEY')
    .option('--max_queue <n>', 'requests admitted before 429', parsePositiveInt('max_queue'))
    .option('--backend <name>', 'cpu or cuda (default: the engine target)')
    .option('--kv_cache_bytes <n>', 'KV cache budget in bytes (default 256 MiB on CPU, 2 GiB on CUDA)', parsePositiveInt('kv_cache_bytes'))
    .option('--tp_size <n>', 'tensor-parallel ranks (must match the engine): one process per GPU; under mpirun -n N ranks come from MPI', parsePositiveInt('tp_size'))
    .action(async (opts: ServeOptions) => {
      if (!opts.engine_dir === !opts.model_dir) {
        throw new ConfigError('kiln serve needs exactly one of --engine_dir ENGINE or --model_dir HF_DIR');
      }
      if (await tpPreamble(opts.tp_size, opts.engine_dir) === 'rank') return;
      await startServer({
        ...(opts.engine_dir ? { engineDir: opts.engine_dir } : {}),
        ...(opts.model_dir ? { modelDir: opts.model_dir } : {}),
        host: opts.host,
        port: opts.port,
        ...(opts.api_key ? { apiKey: opts.api_key } : {}),
        ...(opts.max_queue ? { maxQueue: opts.max_queue } : {}),
        ...(opts.backend ? { backend: opts.backend } : {}),
        ...(opts.kv_cache_bytes ? { kvCacheBytes: opts.kv_cache_bytes } : {}),
      });
    });
}
