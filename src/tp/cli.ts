/**
 * What `kiln serve|run|bench --tp_size N` does before loading: check N against the engine, and
 * under mpirun turn every process but rank 0 into a GPU rank worker (rank 0 goes on to serve).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors/index.js';
import { mpiFromEnv, resolveTpLaunch, runGpuRank } from './gpu-launch.js';

/** tp_size recorded in `engineDir`/config.json (1 when absent). */
export function readEngineTpSize(engineDir: string): number {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(engineDir, 'config.json'), 'utf8'));
  } catch (cause) {
    throw new ConfigError(`cannot read ${join(engineDir, 'config.json')}: is ${engineDir} an engine directory written by kiln build?`, { cause });
  }
  const n = (raw as { tpSize?: unknown }).tpSize;
  return typeof n === 'number' ? n : 1;
}

/**
 * Returns 'rank' when this process became a rank worker (ranks ≥ 1 under mpirun: the command
 * must not serve), else 'driver'. Throws ConfigError when --tp_size and the engine disagree.
 */
export async function tpPreamble(flagTpSize: number | undefined, engineDir: string | undefined, env: Readonly<Record<string, string | undefined>> = process.env): Promise<'rank' | 'driver'> {
  const { mpi, localRank } = mpiFromEnv(env);
  if (!engineDir) {
    if ((flagTpSize ?? 1) > 1) throw new ConfigError('--tp_size needs --engine_dir: build the sharded engine first with kiln build --tp_size N');
    return 'driver';
  }
  const engineTpSize = readEngineTpSize(engineDir);
  if (flagTpSize !== undefined && flagTpSize !== engineTpSize) {
    resolveTpLaunch({ flagTpSize, engineTpSize, numLocalDevices: Infinity });
  }
  if (!mpi || mpi.rank === 0 || engineTpSize === 1) return 'driver';
  const { countCudaDevices } = await import('../backends/cuda/collective.js');
  const launch = resolveTpLaunch({ engineTpSize, numLocalDevices: countCudaDevices(), mpi, ...(localRank !== undefined ? { localRank } : {}) });
  await runGpuRank(launch.rank, launch.tpSize, launch.deviceOrdinal, env);
  return 'rank';
}
