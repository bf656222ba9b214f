/**
 * The CUDA side of a GPU tensor-parallel rank: its rank engine on its local GPU with an NCCL
 * communicator, and rank 0's launcher (NCCL id, its own context, local rank processes).
 * Imported lazily (tp/gpu-launch.ts), so CPU paths never load koffi.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CudaContext } from '../backends/cuda/context.js';
import { createNcclUniqueId, NcclCommunicator } from '../backends/cuda/collective.js';
import type { ExecutionContext, KvCacheSpec } from '../backends/types.js';
import { loadEngine } from '../engine/reader.js';
import type { GpuGroupLauncher } from './gpu-group.js';

/** This rank's KV heads: what its attention nodes read (a slice, or one replicated head). */
export function rankKvCacheSpec(graph: { nodes: readonly { op: string; attrs: Record<string, unknown> }[] }, spec: KvCacheSpec): KvCacheSpec {
  const node = graph.nodes.find((n) => n.op === 'attention');
  return node ? { ...spec, numKvHeads: Number(node.attrs['numKvHeads']) } : spec;
}

export interface CudaRankInit { readonly engineDir: string; readonly kvCache: KvCacheSpec; readonly uniqueId: Uint8Array }

/** Rank `rank` of `tpSize`: rank{rank}.engine on GPU `deviceOrdinal`, joined to the group's communicator. */
export function createCudaRankContext(init: CudaRankInit, rank: number, tpSize: number, deviceOrdinal: number, onCommunicator?: (comm: NcclCommunicator) => void): ExecutionContext {
  const engine = loadEngine(init.engineDir, { rank, target: 'cuda' });
  return new CudaContext(engine, {
    kvCache: rankKvCacheSpec(engine.graph, init.kvCache), deviceOrdinal, progress: rank === 0,
    createCommunicator: () => {
      const comm = NcclCommunicator.create(init.uniqueId, rank, tpSize);
      onCommunicator?.(comm);
      return comm;
    },
  });
}

/** The rank entry to fork: `entry` or KILN_TP_RANK_ENTRY (a bundled script calling tryRunAsForkedRank), else rank-main.js beside this module, else rank-main.ts through tsx. */
function rankEntry(entry?: string): { file: string; execArgv: string[] } {
  const file = entry ?? process.env['KILN_TP_RANK_ENTRY'];
  if (file) return { file, execArgv: [] };
  const js = fileURLToPath(new URL('./rank-main.js', import.meta.url));
  if (existsSync(js)) return { file: js, execArgv: [] };
  return { file: fileURLToPath(new URL('./rank-main.ts', import.meta.url)), execArgv: ['--import', 'tsx'] };
}

/**
 * Rank 0's launcher for `--tp_size N` on one host: forks ranks 1..N-1 (GPU r for rank r) with
 * KILN_TP_RANK / KILN_TP_SIZE / KILN_TP_MASTER set; under mpirun (`spawn: false`) the ranks exist already.
 */
export function createCudaGroupLauncher(opts: { engineDir: string; kvCache: KvCacheSpec; tpSize: number; spawn: boolean; entry?: string; deviceOrdinal?: number }): GpuGroupLauncher {
  let comm: NcclCommunicator | undefined;
  return {
    createUniqueId: () => createNcclUniqueId(),
    createLocalContext: (uniqueId) => createCudaRankContext({ engineDir: opts.engineDir, kvCache: opts.kvCache, uniqueId }, 0, opts.tpSize, opts.deviceOrdinal ?? 0, (c) => { comm = c; }),
    abortLocal: () => {
      const status = comm?.abort() ?? 0;
      if (status !== 0) process.stderr.write(`[tp] ncclCommAbort returned ${status}\n`);
    },
    ...(opts.spawn ? { startRanks: (port: number) => forkRanks(opts.tpSize, port, rankEntry(opts.entry)) } : {}),
  };
}

function forkRanks(tpSize: number, port: number, entry: { file: string; execArgv: string[] }): ReturnType<NonNullable<GpuGroupLauncher['startRanks']>> {
  const children: ChildProcess[] = [];
  const exitHandlers: ((rank: number, code: number | null) => void)[] = [];
  let stopping = false;
  for (let rank = 1; rank < tpSize; rank++) {
    const env = { ...process.env, KILN_TP_RANK: String(rank), KILN_TP_SIZE: String(tpSize), KILN_TP_MASTER: `127.0.0.1:${port}`, KILN_TP_DEVICE: String(rank) };
    const child = fork(entry.file, [], { env, execArgv: entry.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('exit', (code) => { if (!stopping) for (const fn of exitHandlers) fn(rank, code); });
    children.push(child);
  }
  return {
    onExit: (fn) => { exitHandlers.push(fn); },
    stop: () => {
      stopping = true;
      for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    },
  };
}
