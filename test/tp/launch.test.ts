/** Launch checks of GPU tensor parallelism: --tp_size against the engine, GPUs and the MPI world. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/index.js';
import { readEngineTpSize, tpPreamble } from '../../src/tp/cli.js';
import { mpiFromEnv, resolveTpLaunch } from '../../src/tp/gpu-launch.js';
import { masterAddress } from '../../src/tp/link.js';

describe('resolveTpLaunch', () => {
  it('spawns local ranks for --tp_size N on one host with N GPUs', () => {
    expect(resolveTpLaunch({ flagTpSize: 4, engineTpSize: 4, numLocalDevices: 8 })).toEqual({ tpSize: 4, rank: 0, spawnsRanks: true, deviceOrdinal: 0 });
    expect(resolveTpLaunch({ engineTpSize: 1, numLocalDevices: 1 })).toEqual({ tpSize: 1, rank: 0, spawnsRanks: false, deviceOrdinal: 0 });
  });

  it('rejects a --tp_size the engine was not built with, and more ranks than GPUs', () => {
    expect(() => resolveTpLaunch({ flagTpSize: 2, engineTpSize: 4, numLocalDevices: 8 }))
      .toThrow('--tp_size 2 does not match the engine, which was built with --tp_size 4 (4 rank engines); pass --tp_size 4 or rebuild the engine with --tp_size 2');
    const err = (() => { try { resolveTpLaunch({ engineTpSize: 2, numLocalDevices: 1 }); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe('this engine was built with --tp_size 2 but only 1 GPU(s) are visible; run it on a machine with 2 GPUs (check CUDA_VISIBLE_DEVICES) or rebuild with --tp_size 1');
  });

  it('takes rank and GPU from the MPI environment (Open MPI local rank), and checks the world size', () => {
    const env = { OMPI_COMM_WORLD_RANK: '5', OMPI_COMM_WORLD_SIZE: '8', OMPI_COMM_WORLD_LOCAL_RANK: '1' };
    const { mpi, localRank } = mpiFromEnv(env);
    expect(mpi).toEqual({ rank: 5, worldSize: 8, source: 'openmpi' });
    expect(localRank).toBe(1);
    expect(resolveTpLaunch({ engineTpSize: 8, numLocalDevices: 4, mpi: mpi!, localRank: localRank! })).toEqual({ tpSize: 8, rank: 5, spawnsRanks: false, deviceOrdinal: 1 });
    expect(() => resolveTpLaunch({ engineTpSize: 4, numLocalDevices: 4, mpi: mpi! })).toThrow('mpirun started 8 processes but the engine has 4 ranks; run mpirun -n 4');
    expect(() => resolveTpLaunch({ engineTpSize: 8, numLocalDevices: 4, mpi: mpi!, localRank: 4 })).toThrow(/local rank 4 but this host sees only 4 GPU\(s\)/);
    expect(mpiFromEnv({ PMI_RANK: '1', PMI_SIZE: '2', MPI_LOCALRANKID: '0' })).toEqual({ mpi: { rank: 1, worldSize: 2, source: 'pmi' }, localRank: 0 });
    expect(mpiFromEnv({})).toEqual({});
    expect(() => mpiFromEnv({ PMI_RANK: '1' })).toThrow(ConfigError);
  });

  it('reads the master address from KILN_TP_MASTER or MASTER_ADDR/MASTER_PORT', () => {
    expect(masterAddress({})).toEqual({ host: '127.0.0.1', port: 29517 });
    expect(masterAddress({ MASTER_ADDR: 'node0', MASTER_PORT: '6000' })).toEqual({ host: 'node0', port: 6000 });
    expect(masterAddress({ KILN_TP_MASTER: '10.0.0.2:7000', MASTER_ADDR: 'x' })).toEqual({ host: '10.0.0.2', port: 7000 });
    expect(() => masterAddress({ KILN_TP_MASTER: 'node0' })).toThrow(/is not host:port; set KILN_TP_MASTER/);
  });
});

describe('tpPreamble (kiln serve|run|bench --tp_size)', () => {
  const withEngine = async (tpSize: number | undefined, fn: (dir: string) => Promise<void>): Promise<void> => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-tp-cli-'));
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify(tpSize === undefined ? {} : { tpSize }));
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('passes when the flag matches the engine (or is absent) and fails with a fix when it does not', async () => {
    await withEngine(2, async (dir) => {
      expect(readEngineTpSize(dir)).toBe(2);
      await expect(tpPreamble(2, dir, {})).resolves.toBe('driver');
      await expect(tpPreamble(undefined, dir, {})).resolves.toBe('driver');
      await expect(tpPreamble(4, dir, {})).rejects.toThrow('--tp_size 4 does not match the engine, which was built with --tp_size 2');
    });
    await withEngine(undefined, async (dir) => {
      await expect(tpPreamble(2, dir, {})).rejects.toThrow(/built with --tp_size 1 \(1 rank engine\)/);
    });
    await expect(tpPreamble(2, undefined, {})).rejects.toThrow(/--tp_size needs --engine_dir/);
  });

  it('under mpirun, rank 0 drives and a single-rank engine ignores the MPI world', async () => {
    await withEngine(2, async (dir) => {
      await expect(tpPreamble(2, dir, { OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2' })).resolves.toBe('driver');
    });
    await withEngine(1, async (dir) => {
      await expect(tpPreamble(undefined, dir, { PMI_RANK: '1', PMI_SIZE: '2' })).resolves.toBe('driver');
    });
  });
});
