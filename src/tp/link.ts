/**
 * The control link between rank 0 and another rank of a GPU tensor-parallel group: a TCP socket
 * (127.0.0.1 for `--tp_size N` on one host, the MPI job's master address under mpirun) carrying
 * v8-serialized messages (typed arrays travel as they are) behind a 4-byte length. Writes go to
 * the socket at once (libuv writes immediately while its queue is empty), so rank 0 can post a
 * step and then block in its own NCCL step without starving the others.
 */
import * as net from 'node:net';
import { deserialize, serialize } from 'node:v8';
import type { KvCacheSpec, StepInputs } from '../backends/types.js';
import { ConfigError } from '../errors/index.js';

/** Rank 0 → rank r. */
export type ToGpuRank =
  | { readonly type: 'init'; readonly engineDir: string; readonly kvCache: KvCacheSpec; readonly uniqueId: Uint8Array }
  | { readonly type: 'step'; readonly seq: number; readonly step: StepInputs }
  | { readonly type: 'shutdown' }
  /** Fault drill (tests): exit at once with `code`. */
  | { readonly type: 'crash'; readonly code: number };

/** Rank r → rank 0. */
export type FromGpuRank =
  | { readonly type: 'hello'; readonly rank: number }
  | { readonly type: 'ready'; readonly rank: number }
  | { readonly type: 'done'; readonly rank: number; readonly seq: number }
  | { readonly type: 'error'; readonly rank: number; readonly seq: number; readonly message: string };

/** A framed message socket. `onMessage` / `onClose` fire on the event loop. */
export class RankLink<In, Out> {
  private pending: Buffer = Buffer.alloc(0);
  private closed = false;
  private readonly handlers: { message: ((m: In) => void)[]; close: ((why: string) => void)[] } = { message: [], close: [] };

  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.close(`link error: ${err.message}`));
    socket.on('close', () => this.close('link closed'));
  }

  onMessage(fn: (m: In) => void): void { this.handlers.message.push(fn); }
  onClose(fn: (why: string) => void): void { this.handlers.close.push(fn); }
  get isClosed(): boolean { return this.closed; }

  send(message: Out): void {
    if (this.closed) return;
    const body = serialize(message);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length);
    this.socket.write(Buffer.concat([head, body]));
  }

  private receive(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 4) {
      const n = this.pending.readUInt32LE(0);
      if (this.pending.length < 4 + n) return;
      const message = deserialize(this.pending.subarray(4, 4 + n)) as In;
      this.pending = this.pending.subarray(4 + n);
      for (const fn of this.handlers.message) fn(message);
    }
  }

  close(why = 'closed by this side'): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    for (const fn of this.handlers.close) fn(why);
  }
}

/** host:port from `KILN_TP_MASTER`, else MASTER_ADDR / MASTER_PORT (torchrun's names), else 127.0.0.1:29517. */
export function masterAddress(env: Readonly<Record<string, string | undefined>>): { host: string; port: number } {
  const spec = env['KILN_TP_MASTER'] ?? `${env['MASTER_ADDR'] ?? '127.0.0.1'}:${env['MASTER_PORT'] ?? '29517'}`;
  const at = spec.lastIndexOf(':');
  const port = Number(spec.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`tensor-parallel master address ${JSON.stringify(spec)} is not host:port; set KILN_TP_MASTER=host:port (or MASTER_ADDR and MASTER_PORT)`);
  }
  return { host: spec.slice(0, at), port };
}

/** Connects to rank 0, retrying for `timeoutMs` (rank 0 may not listen yet under mpirun). */
export async function connectToMaster(host: string, port: number, timeoutMs = 60_000): Promise<net.Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ host, port }, () => { s.off('error', reject); resolve(s); });
        s.once('error', reject);
      });
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`could not reach tensor-parallel rank 0 at ${host}:${port} within ${timeoutMs} ms: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
