/**
 * Rank and world size of a process started by `mpirun -n N` (Open MPI: OMPI_COMM_WORLD_RANK /
 * OMPI_COMM_WORLD_SIZE; MPICH, Intel MPI, Slurm PMI: PMI_RANK / PMI_SIZE), the way multi-node
 * tensor-parallel deployments start one process per GPU.
 */
import { ConfigError } from '../errors/index.js';

export interface MpiWorld {
  readonly rank: number;
  readonly worldSize: number;
  /** Which variables it came from. */
  readonly source: 'openmpi' | 'pmi';
}

const SOURCES = [
  { source: 'openmpi', rank: 'OMPI_COMM_WORLD_RANK', size: 'OMPI_COMM_WORLD_SIZE' },
  { source: 'pmi', rank: 'PMI_RANK', size: 'PMI_SIZE' },
] as const;

function parseCount(name: string, value: string, min: number): number {
  if (!/^\d+$/.test(value.trim())) throw new ConfigError(`${name}=${JSON.stringify(value)} is not a non-negative integer; check the MPI launcher`);
  const n = Number(value.trim());
  if (n < min) throw new ConfigError(`${name}=${n} must be at least ${min}; check the MPI launcher`);
  return n;
}

/**
 * {rank, worldSize} from `env`, or undefined when not launched by MPI. Throws ConfigError when
 * the variables are half set, not integers, or the rank is outside the world.
 */
export function tryParseMpiEnv(env: Readonly<Record<string, string | undefined>>): MpiWorld | undefined {
  for (const s of SOURCES) {
    const rank = env[s.rank], size = env[s.size];
    if (rank === undefined && size === undefined) continue;
    if (rank === undefined || size === undefined) {
      throw new ConfigError(`${rank === undefined ? s.size : s.rank} is set but ${rank === undefined ? s.rank : s.size} is not; launch with mpirun -n N, or unset it`);
    }
    const world = { rank: parseCount(s.rank, rank, 0), worldSize: parseCount(s.size, size, 1), source: s.source };
    if (world.rank >= world.worldSize) throw new ConfigError(`${s.rank}=${world.rank} is outside the world of ${world.worldSize} (${s.size}); check the MPI launcher`);
    return world;
  }
  return undefined;
}
