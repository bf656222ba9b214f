/**
 * `KILN_CUDA_PROFILE=ops`: a CUDA event pair around every plan op of eager (not captured) steps,
 * read back per step. One process-wide profiler (kept on globalThis, so a separately bundled
 * backend and the script reading it share it); scripts/cuda/profile-ops.ts turns its records into
 * per-op-kind times with bytes, FLOPs and achieved rates.
 * Launch gaps: when the host enqueues slower than the GPU runs (batch-1 decode), the time between
 * two events would include the GPU waiting for the next launch. So each profiled step is queued
 * behind a filler of device-to-device copies long enough to cover the host's enqueue time (sized
 * from the previous step), and `gpuBehindHost` says whether the GPU was still in the filler when
 * the host had queued the whole step, i.e. whether the per-op times are free of launch gaps.
 */
import type { CudaDevice, DeviceBuffer, Event, Stream } from './device.js';
import type { PlanOp } from './exec-plan.js';
import type { StepDims } from './step-buffers.js';

/** One op of one profiled step: the plan op, the step's dims and its device time. */
export interface OpRecord {
  readonly op: PlanOp;
  readonly ms: number;
}

/** One profiled eager step: every op's time and the span from the first op's start to the last op's end. */
export interface StepRecord {
  readonly dims: StepDims;
  readonly ops: readonly OpRecord[];
  readonly spanMs: number;
  /** Host milliseconds to enqueue the step's ops and events. */
  readonly hostEnqueueMs: number;
  /** The GPU was still busy with the filler when the host had queued every op: no launch gaps inside. */
  readonly gpuBehindHost: boolean;
}

/** One filler copy moves 2 × 512 MiB (≈ 0.35 ms on an H100); at most MAX_FILLER_COPIES are queued, so the launch queue never fills. */
const FILLER_BYTES = 512 * 2 ** 20;
const MAX_FILLER_COPIES = 200;

const KEY = Symbol.for('kiln.cuda.opProfiler');

export class OpProfiler {
  readonly steps: StepRecord[] = [];
  /** Pooled events: [0] before the filler, [1] after it, [2 + i] before op i, then one after the last op. */
  private readonly pool: Event[] = [];
  private pending: { dims: StepDims; ops: PlanOp[]; stream: Stream; t0: number } | null = null;
  private filler: DeviceBuffer | null = null;
  /** Filler copies queued before the next step (resized from the last step's host enqueue time). */
  private fillerCopies = 32;

  constructor(private readonly device: CudaDevice) {}

  /** The process-wide profiler when KILN_CUDA_PROFILE=ops (created on first use), else null. */
  static active(device: CudaDevice): OpProfiler | null {
    if (process.env['KILN_CUDA_PROFILE'] !== 'ops') return null;
    const g = globalThis as { [KEY]?: OpProfiler };
    return (g[KEY] ??= new OpProfiler(device));
  }

  /** The process-wide profiler if one was created (for scripts), else null. */
  static current(): OpProfiler | null {
    return (globalThis as { [KEY]?: OpProfiler })[KEY] ?? null;
  }

  /** Disposes the process-wide profiler (before its device goes away) and forgets it. */
  static release(): void {
    const g = globalThis as { [KEY]?: OpProfiler };
    g[KEY]?.dispose();
    delete g[KEY];
  }

  private event(i: number): Event {
    while (this.pool.length <= i) this.pool.push(this.device.createEvent());
    return this.pool[i]!;
  }

  /** Queues the filler between events 0 and 1, then opens a step. */
  beginStep(dims: StepDims, stream: Stream): void {
    this.filler ??= this.device.alloc(2 * FILLER_BYTES);
    this.event(0).record(stream);
    for (let i = 0; i < this.fillerCopies; i++) {
      const [dst, src] = i % 2 ? [0, FILLER_BYTES] : [FILLER_BYTES, 0];
      this.filler.copyFrom(this.filler, FILLER_BYTES, stream, dst, src);
    }
    this.event(1).record(stream);
    this.pending = { dims, ops: [], stream, t0: performance.now() };
  }

  /** Records an event before `op` (call `endStep` after the last one). */
  mark(op: PlanOp): void {
    const p = this.pending;
    if (!p) return;
    this.event(2 + p.ops.length).record(p.stream);
    p.ops.push(op);
  }

  /** Records the closing event, waits for the step and stores its per-op times. */
  endStep(): void {
    const p = this.pending;
    this.pending = null;
    if (!p || p.ops.length === 0) return;
    const n = p.ops.length;
    const end = this.event(2 + n);
    end.record(p.stream);
    const hostEnqueueMs = performance.now() - p.t0;
    const gpuBehindHost = !this.event(1).query();
    end.synchronize();
    const perCopy = this.event(1).elapsedSince(this.event(0)) / Math.max(1, this.fillerCopies);
    if (perCopy > 0) this.fillerCopies = Math.min(MAX_FILLER_COPIES, Math.max(8, Math.ceil((2 * hostEnqueueMs) / perCopy)));
    const ops = p.ops.map((op, i) => ({ op, ms: this.event(3 + i).elapsedSince(this.event(2 + i)) }));
    this.steps.push({ dims: p.dims, ops, spanMs: end.elapsedSince(this.event(2)), hostEnqueueMs, gpuBehindHost });
  }

  /** Forgets the recorded steps (events stay pooled). */
  clear(): void {
    this.steps.length = 0;
  }

  dispose(): void {
    for (const e of this.pool) e.dispose();
    this.pool.length = 0;
    this.filler?.dispose();
    this.filler = null;
  }
}
