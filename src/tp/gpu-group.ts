/**
 * A GPU tensor-parallel group seen from rank 0: one process per GPU. Rank 0 runs the scheduler
 * and its own shard in this process (`local`); every step's plain data (StepInputs) is posted to
 * ranks 1..N-1 over their links before rank 0 enqueues its own step, so all ranks run the same
 * plan and meet in the same NCCL collectives. Only rank 0 samples and returns tokens.
 *
 * Failures are loud, never hangs: a rank whose link closes, whose process exits or which reports a
 * failed step puts the group in an error state, and every later call throws a BackendError naming
 * the rank (the server answers /health 503 and requests 500). A death while a step is in flight
 * also aborts rank 0's communicator (its stream may wait in a collective for the dead rank
 * forever) and rejects the pending step at once; a watchdog does the same for a step still
 * pending after `stepTimeoutMs` while some rank is silent (has not acked that step's `done`).
 * Only the async path (enqueueAndSample, the executor's default) can be rescued mid-step: the
 * synchronous run()/runAndSample() block this thread in the GPU wait, so nothing here can run.
 */
import * as net from 'node:net';
import type { ExecutionContext, HostTensor, KvCacheSpec, PendingStep, RowSampling, SampledStep, StepInputs } from '../backends/types.js';
import { BackendError } from '../errors/index.js';
import { RankLink, type FromGpuRank, type ToGpuRank } from './link.js';

type Link = RankLink<FromGpuRank, ToGpuRank>;

const failureListeners = new Set<(why: string) => void>();

/**
 * Calls `fn` once per group failure in this thread (a dead or failing rank), with the message
 * naming the rank. The engine worker forwards it to the server, which then answers /health 503.
 * Returns the unsubscribe function.
 */
export function onTensorParallelFailure(fn: (why: string) => void): () => void {
  failureListeners.add(fn);
  return () => failureListeners.delete(fn);
}

/** Tells the listeners (tests and fakes may call it to drill the server's handling). */
export function reportTensorParallelFailure(why: string): void {
  for (const fn of failureListeners) fn(why);
}

/** How rank 0 gets its context and its peers (injected: NCCL + CUDA on a GPU machine, fakes in tests). */
export interface GpuGroupLauncher {
  /** 128-byte NCCL unique id (rank 0 creates it; createNcclUniqueId on GPUs). */
  createUniqueId(): Uint8Array;
  /** Rank 0's own context (joins the communicator: blocks until every rank has initialised). */
  createLocalContext(uniqueId: Uint8Array): ExecutionContext;
  /**
   * Aborts rank 0's communicator (ncclCommAbort): collectives its stream waits in for a dead rank
   * return. Called at most once, on the event loop, when the group fails; must not throw.
   */
  abortLocal?(): void;
  /** Starts ranks 1..N-1 told to connect to `port` (local processes), or nothing under mpirun. Returns a stopper. */
  startRanks?(port: number): { stop(): void; onExit(fn: (rank: number, code: number | null) => void): void };
}

export interface GpuGroupOptions {
  readonly engineDir: string;
  readonly tpSize: number;
  readonly kvCache: KvCacheSpec;
  /** Where rank 0 listens (default 127.0.0.1, port 0: any free port; under mpirun the master address). */
  readonly host?: string;
  readonly port?: number;
  /** How long ranks get to connect and load (ms, default 10 min). */
  readonly startTimeoutMs?: number;
  /** A step pending this long with a rank silent fails the group (ms; default KILN_TP_STEP_TIMEOUT_MS, else 60 s). */
  readonly stepTimeoutMs?: number;
}

/** The step timeout: the option, else KILN_TP_STEP_TIMEOUT_MS, else 60 000 ms (longer than any prefill). */
export function stepTimeoutMs(option: number | undefined, env: Readonly<Record<string, string | undefined>> = process.env): number {
  if (option !== undefined) return option;
  const v = Number(env['KILN_TP_STEP_TIMEOUT_MS']);
  return Number.isFinite(v) && v > 0 ? v : 60_000;
}

/** The step rank 0 has enqueued and not yet seen finish. */
interface InFlight {
  readonly seq: number;
  readonly timer: NodeJS.Timeout;
  /** Rejects the step's done() (the group failed). */
  readonly fail: (err: BackendError) => void;
}

export class GpuGroupContext implements ExecutionContext {
  private failure: string | null = null;
  private seq = 0;
  private disposed = false;
  private inFlight: InFlight | undefined;
  /** Rank 0's stream may wait forever in an aborted collective: dispose() must not synchronize it. */
  private streamStuck = false;
  /** The last step each rank acked done. */
  private readonly acked = new Map<number, number>();
  readonly sampleOnDevice: boolean;
  /** Present when rank 0's context has it: the event loop keeps running (and sees dead ranks) while the GPUs work. */
  readonly enqueueAndSample?: (step: StepInputs, sampling: readonly RowSampling[]) => PendingStep<SampledStep>;

  private constructor(private readonly local: ExecutionContext, private readonly links: ReadonlyMap<number, Link>,
    private readonly server: net.Server, private readonly stopRanks: () => void,
    private readonly abortLocal: () => void, private readonly timeoutMs: number) {
    this.sampleOnDevice = local.sampleOnDevice === true;
    const enqueue = local.enqueueAndSample?.bind(local);
    if (enqueue) this.enqueueAndSample = (step, sampling) => { this.broadcast(step); return this.guard(enqueue(step, sampling)); };
    for (const [rank, link] of links) {
      this.acked.set(rank, 0);
      link.onClose((why) => this.fail(`tensor-parallel rank ${rank} lost its link to rank 0 (${why}): the rank process died or was killed`));
      link.onMessage((m) => {
        if (m.type === 'error') this.fail(`tensor-parallel rank ${rank} failed step ${m.seq}: ${m.message}`);
        if (m.type === 'done') this.acked.set(rank, m.seq);
      });
    }
  }

  /** Listens, starts (or awaits, under mpirun) ranks 1..N-1, hands them the NCCL id, then joins with its own context. */
  static async create(options: GpuGroupOptions, launcher: GpuGroupLauncher): Promise<GpuGroupContext> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve); });
    const port = (server.address() as net.AddressInfo).port;
    const exits: string[] = [];
    const ranks = launcher.startRanks?.(port);
    ranks?.onExit((rank, code) => exits.push(`tensor-parallel rank ${rank} exited (code ${code})`));
    try {
      const links = await acceptRanks(server, options.tpSize, options.startTimeoutMs ?? 600_000, exits);
      const uniqueId = launcher.createUniqueId();
      for (const link of links.values()) link.send({ type: 'init', engineDir: options.engineDir, kvCache: options.kvCache, uniqueId });
      const local = launcher.createLocalContext(uniqueId);
      try {
        await awaitReady(links, options.startTimeoutMs ?? 600_000, exits);
      } catch (err) {
        local.dispose();
        throw err;
      }
      const abort = (): void => { try { launcher.abortLocal?.(); } catch { /* the failure is already being reported */ } };
      const group = new GpuGroupContext(local, links, server, () => ranks?.stop(), abort, stepTimeoutMs(options.stepTimeoutMs));
      ranks?.onExit((rank, code) => group.fail(`tensor-parallel rank ${rank} exited unexpectedly (code ${code})`));
      return group;
    } catch (err) {
      ranks?.stop();
      server.close();
      throw err;
    }
  }

  get tpSize(): number { return this.links.size + 1; }
  /** Why the group is down, or null while it is healthy. */
  get error(): string | null { return this.failure; }

  run(step: StepInputs): Record<string, HostTensor> {
    this.broadcast(step);
    return this.local.run(step);
  }

  runAndSample(step: StepInputs, sampling: readonly RowSampling[]): SampledStep {
    if (!this.local.runAndSample) throw new BackendError('rank 0\'s context cannot sample on the device');
    this.broadcast(step);
    return this.local.runAndSample(step, sampling);
  }

  memoryUsage(): ReturnType<ExecutionContext['memoryUsage']> {
    return this.local.memoryUsage();
  }

  /**
   * Shuts the ranks down and frees rank 0's context, except after a mid-step abort: then the
   * local stream may never drain (its synchronize would block for good), so the context is left to
   * process exit, which frees its device memory. A failed group must be restarted anyway.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.inFlight) { clearTimeout(this.inFlight.timer); this.inFlight = undefined; }
    for (const link of this.links.values()) { link.send({ type: 'shutdown' }); link.close(); }
    this.server.close();
    this.stopRanks();
    if (!this.streamStuck) this.local.dispose();
  }

  /** Fault drill (tests): rank `rank` exits at once with `code`, as a crashed rank would. */
  crashRank(rank: number, code = 70): void {
    this.links.get(rank)?.send({ type: 'crash', code });
  }

  /**
   * The group is down: abort rank 0's communicator (a peer is gone; a pending collective would
   * wait for it forever, and ncclCommDestroy may need the peers), reject the pending step, tell
   * the listeners. Once; nothing here waits for the GPU.
   */
  private fail(why: string): void {
    if (this.disposed || this.failure !== null) return;
    this.failure = why;
    this.abortLocal();
    const pending = this.inFlight;
    this.inFlight = undefined;
    if (pending) { this.streamStuck = true; clearTimeout(pending.timer); }
    reportTensorParallelFailure(why);
    pending?.fail(this.downError());
  }

  private downError(): BackendError {
    return new BackendError(`${this.failure ?? 'unknown failure'}; the tensor-parallel group is down: restart the server`);
  }

  /** The local pending step, settled early with the group's error if the group fails first; arms the watchdog. */
  private guard(inner: PendingStep<SampledStep>): PendingStep<SampledStep> {
    const seq = this.seq;
    let stepFailed = false;
    let reject!: (err: BackendError) => void;
    const failed = new Promise<never>((_, r) => { reject = r; });
    failed.catch(() => undefined); // observed through done(); never an unhandled rejection
    const timer = setTimeout(() => this.onStepTimeout(seq), this.timeoutMs);
    this.inFlight = { seq, timer, fail: (err) => { stepFailed = true; reject(err); } };
    const settle = (): void => { if (this.inFlight?.seq === seq) { clearTimeout(timer); this.inFlight = undefined; } };
    let result: Promise<SampledStep> | undefined;
    // Once failed, the local wait is not even started: its event may never complete.
    return { done: () => (result ??= (stepFailed ? failed : Promise.race([inner.done(), failed])).finally(settle)) };
  }

  /** Watchdog: the step is still pending. A rank that has not acked it is silent (hung or cut off); fail naming it. */
  private onStepTimeout(seq: number): void {
    if (this.inFlight?.seq !== seq) return;
    const silent = [...this.acked].filter(([, last]) => last < seq).map(([rank]) => rank);
    this.fail(silent.length > 0
      ? `tensor-parallel rank(s) ${silent.join(', ')} did not finish step ${seq} within ${this.timeoutMs} ms (no done ack; KILN_TP_STEP_TIMEOUT_MS): the rank is hung or cut off`
      : `tensor-parallel rank 0 did not finish step ${seq} within ${this.timeoutMs} ms although every other rank did (KILN_TP_STEP_TIMEOUT_MS)`);
  }

  private broadcast(step: StepInputs): void {
    if (this.disposed) throw new BackendError('this tensor-parallel group was disposed');
    if (this.failure) throw this.downError();
    const message: ToGpuRank = { type: 'step', seq: ++this.seq, step };
    for (const link of this.links.values()) link.send(message);
  }
}

function acceptRanks(server: net.Server, tpSize: number, timeoutMs: number, exits: readonly string[]): Promise<Map<number, Link>> {
  const links = new Map<number, Link>();
  return new Promise((resolve, reject) => {
    if (tpSize === 1) { resolve(links); return; }
    const timer = setInterval(() => {
      if (exits.length > 0) done(new BackendError(`${exits[0]!} before joining the group`));
      else if (Date.now() > deadline) done(new BackendError(`only ${links.size} of ${tpSize - 1} tensor-parallel ranks connected within ${timeoutMs} ms; check that every rank started (mpirun -n ${tpSize}) and can reach rank 0`));
    }, 50);
    const deadline = Date.now() + timeoutMs;
    const done = (err?: Error): void => {
      clearInterval(timer);
      server.off('connection', onConnection);
      if (err) { for (const l of links.values()) l.close(); reject(err); } else resolve(links);
    };
    const onConnection = (socket: net.Socket): void => {
      const link: Link = new RankLink(socket);
      link.onMessage((m) => {
        if (m.type !== 'hello' || links.has(m.rank)) return;
        if (m.rank < 1 || m.rank >= tpSize) { link.close(); done(new BackendError(`a rank ${m.rank} joined a tensor-parallel group of ${tpSize}; all ranks must be started with the same size`)); return; }
        links.set(m.rank, link);
        if (links.size === tpSize - 1) done();
      });
    };
    server.on('connection', onConnection);
  });
}

function awaitReady(links: ReadonlyMap<number, Link>, timeoutMs: number, exits: readonly string[]): Promise<void> {
  const waiting = new Set(links.keys());
  return new Promise((resolve, reject) => {
    if (waiting.size === 0) { resolve(); return; }
    const deadline = Date.now() + timeoutMs;
    const timer = setInterval(() => {
      if (exits.length > 0) finish(new BackendError(`${exits[0]!} while loading its engine`));
      else if (Date.now() > deadline) finish(new BackendError(`tensor-parallel rank(s) ${[...waiting].join(', ')} did not load within ${timeoutMs} ms`));
    }, 50);
    const finish = (err?: Error): void => { clearInterval(timer); if (err) reject(err); else resolve(); };
    for (const [rank, link] of links) {
      link.onMessage((m) => {
        if (m.type === 'ready') { waiting.delete(rank); if (waiting.size === 0) finish(); }
        if (m.type === 'error') finish(new BackendError(`tensor-parallel rank ${rank} could not load its engine: ${m.message}`));
      });
      link.onClose((why) => finish(new BackendError(`tensor-parallel rank ${rank} lost its link while loading (${why})`)));
    }
  });
}
