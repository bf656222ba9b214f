/**
 * Where a GPU tensor-parallel process stands (plain checks, no device): which rank it is, how many
 * ranks the engine wants, and whether this machine can hold them; then the group or rank loop.
 *   kiln serve --tp_size N       rank 0 here, ranks 1..N-1 forked (one per local GPU)
 *   mpirun -n N kiln serve ...   every process a rank (mpi-env.ts); rank 0 serves HTTP
 */
import type { KvCacheSpec } from '../backends/types.js';
import { ConfigError } from '../errors/index.js';
import { GpuGroupContext } from './gpu-group.js';
import { masterAddress } from './link.js';
import { tryParseMpiEnv, type MpiWorld } from './mpi-env.js';
import { checkTpFitsDevices } from './plan.js';
import { runRankProcess } from './rank-process.js';

export interface TpLaunch {
  readonly tpSize: number;
  readonly rank: number;
  /** True when this process forks the other ranks (not under MPI). */
  readonly spawnsRanks: boolean;
  /** The GPU of this rank on its host. */
  readonly deviceOrdinal: number;
}

/**
 * Checks `--tp_size` (optional: defaults to the engine's) against the engine, the MPI world and
 * the GPUs this host sees (`numLocalDevices`; every local rank needs its own). Throws ConfigError.
 */
export function resolveTpLaunch(opts: { flagTpSize?: number; engineTpSize: number; numLocalDevices: number; mpi?: MpiWorld; localRank?: number }): TpLaunch {
  const { engineTpSize, mpi } = opts;
  const tpSize = opts.flagTpSize ?? engineTpSize;
  if (tpSize !== engineTpSize) {
    throw new ConfigError(`--tp_size ${tpSize} does not match the engine, which was built with --tp_size ${engineTpSize} (${engineTpSize} rank engine${engineTpSize === 1 ? '' : 's'}); pass --tp_size ${engineTpSize} or rebuild the engine with --tp_size ${tpSize}`);
  }
  if (mpi) {
    if (mpi.worldSize !== tpSize) throw new ConfigError(`mpirun started ${mpi.worldSize} processes but the engine has ${tpSize} ranks; run mpirun -n ${tpSize}`);
    const localRank = opts.localRank ?? mpi.rank;
    if (localRank >= opts.numLocalDevices) throw new ConfigError(`MPI rank ${mpi.rank} is local rank ${localRank} but this host sees only ${opts.numLocalDevices} GPU(s); start at most ${opts.numLocalDevices} ranks per host (check CUDA_VISIBLE_DEVICES)`);
    return { tpSize, rank: mpi.rank, spawnsRanks: false, deviceOrdinal: localRank };
  }
  checkTpFitsDevices(tpSize, opts.numLocalDevices);
  return { tpSize, rank: 0, spawnsRanks: tpSize > 1, deviceOrdinal: 0 };
}

/** This process's MPI world and local rank (OMPI_COMM_WORLD_LOCAL_RANK / MPI_LOCALRANKID / SLURM_LOCALID), if any. */
export function mpiFromEnv(env: Readonly<Record<string, string | undefined>>): { mpi?: MpiWorld; localRank?: number } {
  const mpi = tryParseMpiEnv(env);
  if (!mpi) return {};
  const local = env['OMPI_COMM_WORLD_LOCAL_RANK'] ?? env['MPI_LOCALRANKID'] ?? env['SLURM_LOCALID'];
  return { mpi, ...(local !== undefined && /^\d+$/.test(local) ? { localRank: Number(local) } : {}) };
}

/** Rank 0's ExecutionContext over the whole GPU group (forks local ranks, or awaits mpirun's). */
export async function createGpuTensorParallelContext(engineDir: string, kvCache: KvCacheSpec, launch: TpLaunch, entry?: string): Promise<GpuGroupContext> {
  const { createCudaGroupLauncher } = await import('./cuda-rank.js');
  const launcher = createCudaGroupLauncher({ engineDir, kvCache, tpSize: launch.tpSize, spawn: launch.spawnsRanks, deviceOrdinal: launch.deviceOrdinal, ...(entry ? { entry } : {}) });
  const where = launch.spawnsRanks ? { host: '127.0.0.1', port: 0 } : masterAddress(process.env);
  return GpuGroupContext.create({ engineDir, tpSize: launch.tpSize, kvCache, host: launch.spawnsRanks ? where.host : '0.0.0.0', port: where.port }, launcher);
}

/** Ranks ≥ 1 (forked or under mpirun): the worker loop on this process's GPU until rank 0 shuts down. */
export async function runGpuRank(rank: number, tpSize: number, deviceOrdinal: number, env: Readonly<Record<string, string | undefined>> = process.env): Promise<void> {
  const { createCudaRankContext } = await import('./cuda-rank.js');
  const { host, port } = masterAddress(env);
  await runRankProcess({ rank, host, port, createContext: (init) => createCudaRankContext(init, rank, tpSize, deviceOrdinal) });
}

/** For entries that may be forked as a rank (rank-main.ts, bundled device scripts): runs the rank and returns true when KILN_TP_RANK is set. */
export async function tryRunAsForkedRank(env: Readonly<Record<string, string | undefined>> = process.env): Promise<boolean> {
  const rank = env['KILN_TP_RANK'];
  if (rank === undefined) return false;
  await runGpuRank(Number(rank), Number(env['KILN_TP_SIZE']), Number(env['KILN_TP_DEVICE'] ?? rank), env);
  return true;
}
