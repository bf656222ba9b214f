/**
 * Ranks 1..N-1 of a GPU tensor-parallel group: connect to rank 0, say hello, load the rank
 * engine when rank 0 sends the NCCL id, then run every step rank 0 posts (the same plan on this
 * rank's shard; the logits are dropped: only rank 0 samples) and acks each with `done` (rank 0's
 * watchdog calls a rank silent that has not acked a step it has waited on for too long). A failed
 * step is reported to rank 0 and ends the process, as does a lost link: a group with a broken
 * rank cannot continue.
 */
import type { ExecutionContext, KvCacheSpec } from '../backends/types.js';
import { connectToMaster, RankLink, type FromGpuRank, type ToGpuRank } from './link.js';

export interface RankProcessOptions {
  readonly rank: number;
  readonly host: string;
  readonly port: number;
  /** Loads this rank's context (CUDA + NCCL on GPUs; blocks in ncclCommInitRank until all ranks joined). */
  createContext(init: { engineDir: string; kvCache: KvCacheSpec; uniqueId: Uint8Array }): ExecutionContext;
  /** Called instead of process.exit (tests). */
  exit?(code: number): void;
}

const describe = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/** Runs the rank until rank 0 shuts it down (resolves) or the link drops (exit code 3). */
export async function runRankProcess(options: RankProcessOptions): Promise<void> {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const link = new RankLink<ToGpuRank, FromGpuRank>(await connectToMaster(options.host, options.port));
  const { rank } = options;
  let context: ExecutionContext | undefined;
  let shuttingDown = false;
  return new Promise<void>((resolve) => {
    link.onClose(() => {
      context?.dispose();
      if (!shuttingDown) exit(3);
      resolve();
    });
    link.onMessage((m) => {
      switch (m.type) {
        case 'init':
          try {
            context = options.createContext(m);
            link.send({ type: 'ready', rank });
          } catch (err) {
            link.send({ type: 'error', rank, seq: 0, message: describe(err) });
            link.socket.end();
          }
          return;
        case 'step':
          try {
            if (!context) throw new Error('a step arrived before init');
            context.run(m.step);
            link.send({ type: 'done', rank, seq: m.seq }); // the per-step ack rank 0's watchdog waits for
          } catch (err) {
            link.send({ type: 'error', rank, seq: m.seq, message: describe(err) });
            link.socket.end();
          }
          return;
        case 'crash':
          shuttingDown = true; // exit() does not return in a real process; in tests the close must not exit twice
          exit(m.code);
          link.close();
          return;
        case 'shutdown':
          shuttingDown = true;
          link.close();
          return;
      }
    });
    link.send({ type: 'hello', rank });
  });
}
