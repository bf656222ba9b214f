/**
 * The CUDA ExecutionContext: one device memory plan for an engine (weights uploaded once, a KV
 * pool per KvCacheSpec, an activation arena of reusable slots sized for maxNumTokens, persistent
 * step-input buffers), a static execution plan of the fused graph, and CUDA graphs that replay
 * decode-only steps per batch-size bucket (captured while the context is created, by default).
 * Prefill and mixed steps run eagerly.
 * run() returns the float32 logits as a view of a page-locked host buffer that the next run()
 * overwrites: copy the rows you keep beyond the step. runAndSample() picks the tokens on the GPU
 * (penalties, argmax_rows / sample_rows over the logits slot, logprobs) and copies back only ids
 * and logprobs; enqueueAndSample() does the same without blocking (an event polled from the event loop).
 */
import { BackendError, EngineLoadError } from '../../errors/index.js';
import type { Engine } from '../../engine/types.js';
import type { ContextOptions, ExecutionContext, HostTensor, KvCacheSpec, PendingStep, RowSampling, SampledStep, StepInputs } from '../types.js';
import { CudaDevice, type CudaGraphExec, type DeviceBuffer, type Event, type Stream } from './device.js';
import { graphMode, waitForEvent } from './async-step.js';
import { engineDtypes, kernelMismatch, tryReadKernels, tryReadTactics } from './engine-sections.js';
import { planExecution, type ExecPlan } from './exec-plan.js';
import { CublasLtHandle } from './gemm.js';
import { compileKernels, KernelSet } from './kernel-set.js';
import { CudaKvCache } from './kv-cache.js';
import { DeviceSampler } from './device-sampler.js';
import { KERNEL_FILES, type KernelShapes } from './kernels/index.js';
import { decodeScratchFloats } from './ops.js';
import { gemmRowsBucket, PlanRunner } from './plan-runner.js';
import { QuantScratch, quantScratchBytes } from './quant-ops.js';
import { StepBuffers, type StepLimits } from './step-buffers.js';
import { fillDummyWeights } from './dummy-weights.js';
import { DeviceWeights } from './weights.js';
import type { DeviceCommunicator } from './collective.js';
import type { ModelConfig } from '../../models/config.js';
import { rankModelConfig, type TpPlan } from '../../tp/plan.js';

export interface CudaContextOptions extends ContextOptions {
  /**
   * Replay decode-only steps from CUDA graphs: 'load' (default; true means the same) captures
   * every decode bucket up to max_batch_size while the context is created, 'lazy' captures a
   * bucket on its first use, false runs every step eagerly (KILN_CUDA_GRAPHS=0|lazy overrides).
   */
  readonly cudaGraphs?: boolean | 'load' | 'lazy';
  /** Progress lines on stderr while weights upload (default true). */
  readonly progress?: boolean;
  /** The GPU to run on (default 0): a tensor-parallel rank's local device. */
  readonly deviceOrdinal?: number;
  /**
   * Tensor-parallel engines: makes this rank's communicator, called once the device's context is
   * current (NCCL binds to it). The context owns what it returns and disposes it before the device.
   */
  readonly createCommunicator?: () => DeviceCommunicator;
}

/** The model as this engine's kernels see it: a tensor-parallel rank's shard (heads/N, intermediate/N) when config.tp is set. */
export function engineShardModel(engine: Engine): ModelConfig | undefined {
  const m = engine.config.model ?? undefined;
  const tp = (engine.config as { tp?: TpPlan }).tp;
  return m && tp ? rankModelConfig(m, tp) : m;
}

/** Batch-size buckets captured for decode: 1, 2, 4, 8, ... and maxBatchSize itself. */
export function decodeBuckets(maxBatchSize: number): number[] {
  const out: number[] = [];
  for (let b = 1; b < maxBatchSize; b *= 2) out.push(b);
  out.push(maxBatchSize);
  return out;
}

function kernelShapesFor(engine: Engine, spec: KvCacheSpec): KernelShapes {
  const m = engineShardModel(engine);
  if (!m) throw new EngineLoadError('the CUDA backend runs LLM engines (built from a model); this engine has no model config');
  const { actDtype, kvDtype } = engineDtypes(engine);
  // An fp8 cache asked for by the runtime (KvCacheSpec) is honoured even without the engine's scales (1.0 then).
  return { hiddenSize: m.hiddenSize, intermediateSize: m.intermediateSize, numHeads: m.numHeads, numKvHeads: m.numKvHeads, headDim: m.headDim, tokensPerBlock: spec.tokensPerBlock,
    actDtype, kvDtype: spec.dtype === 'fp8e4m3' ? 'fp8e4m3' : kvDtype };
}

/** Kernels from the engine's cubin sections, or (engines built without them) compiled by NVRTC now. */
function loadKernels(device: CudaDevice, engine: Engine, shapes: KernelShapes, log: (l: string) => void): KernelSet {
  const stored = tryReadKernels(engine.sections);
  const missing = stored ? Object.keys(KERNEL_FILES).filter((f) => !stored.compiled.some((c) => c.file === f)) : [];
  let why = !stored ? 'it stores no compiled kernels'
    : kernelMismatch(stored.shapes, shapes) ?? (missing.length > 0 ? `it stores no cubin for ${missing.join(', ')} (built by an older Kiln)` : null);
  if (stored && why === null) {
    const arch = stored.compiled[0]?.arch;
    if (arch !== device.info.arch) throw new EngineLoadError(`this engine was built for ${arch ?? 'an unknown GPU'} but this GPU (${device.info.name}) is ${device.info.arch}; rebuild it here with \`kiln build --target cuda\``);
    try {
      return KernelSet.load(device, shapes, stored.compiled);
    } catch (e) {
      // An engine from an older Kiln: its cubins lack an entry point this version launches.
      why = `its stored kernels do not load (${e instanceof Error ? e.message : String(e)})`;
    }
  }
  log(`[cuda] compiling kernels with NVRTC for ${device.info.arch}: ${why}`);
  return KernelSet.load(device, shapes, compileKernels(shapes, device.info.arch, process.env['KILN_KERNEL_DIR']));
}

export class CudaContext implements ExecutionContext {
  private readonly owned: { dispose(): void }[] = [];
  private readonly device: CudaDevice;
  private readonly stream: Stream;
  private readonly weights: DeviceWeights;
  private readonly kv: CudaKvCache;
  private readonly inputs: StepBuffers;
  private readonly slots: DeviceBuffer[] = [];
  private readonly runner: PlanRunner;
  private readonly plan: ExecPlan;
  private readonly graphs = new Map<number, CudaGraphExec>();
  private readonly buckets: number[];
  private readonly vocab: number;
  /**
   * Page-locked staging for the logits copy (maxLogits × vocab float32). run() returns a view of
   * it, valid until the next run(): the Executor consumes every row within its step, and a fresh
   * 131 MB array per decode step at batch 256 × 128256 cost ~90 ms of allocation and page faults.
   */
  private readonly logitsHost: Float32Array;
  private readonly useGraphs: boolean;
  private readonly sampler: DeviceSampler;
  /** Recorded behind each enqueued step's result copy; `enqueueAndSample` polls it. */
  private readonly stepDone: Event;
  private inFlight = false;
  readonly sampleOnDevice = true;
  readonly sampleExtrasOnDevice = true;
  private activationBytes = 0;
  private disposed = false;
  numGraphReplays = 0;
  numEagerSteps = 0;
  /** Wall time inside run()/runAndSample() and, of it, waiting for the GPU and copying logits or ids back (ms; KILN_CUDA_PROFILE=1 prints it). */
  readonly timing = { runMs: 0, gpuWaitMs: 0, logitsMs: 0, logitsBytes: 0, sampledSteps: 0, idsMs: 0, asyncSteps: 0, asyncPolls: 0, graphsAtLoad: 0, graphCaptureMs: 0 };

  constructor(engine: Engine, options: CudaContextOptions = {}) {
    const spec = options.kvCache;
    if (!spec) throw new BackendError('the CUDA context needs a paged KV cache: pass { kvCache: KvCacheSpec } to createContext');
    const log = (l: string): void => { if (options.progress !== false) process.stderr.write(`${l}\n`); };
    this.device = CudaDevice.open(options.deviceOrdinal ?? 0);
    try {
      const comm = options.createCommunicator ? this.own(options.createCommunicator()) : undefined;
      this.stream = this.own(this.device.createStream());
      const build = engine.config.build;
      const model = engineShardModel(engine)!;
      const maxSeqLen = build.maxInputLen + build.maxOutputLen;
      const limits: StepLimits = {
        maxTokens: build.maxNumTokens, maxSeqs: build.maxBatchSize,
        maxLogits: Math.min(build.maxNumTokens, Math.max(build.maxBatchSize, 256)),
        maxBlocksPerSeq: Math.ceil(maxSeqLen / spec.tokensPerBlock) + 1,
      };
      const maxRows = (dim: string): number => gemmRowsBucket(dim === 'num_logits' ? limits.maxLogits : limits.maxTokens);
      this.plan = planExecution(engine.graph, maxRows);
      this.vocab = this.plan.outputs[0]!.ref.cols;
      this.logitsHost = new Float32Array(limits.maxLogits * this.vocab);
      this.own(this.device.pinHost(this.logitsHost));
      const kernels = this.own(loadKernels(this.device, engine, kernelShapesFor(engine, spec), log));
      const lt = this.own(new CublasLtHandle(this.device));
      this.weights = this.own(this.uploadWeights(engine, kernels, log));
      this.kv = this.own(CudaKvCache.allocate(this.device, { ...spec, dtype: kernels.shapes.kvDtype ?? 'bfloat16' }));
      this.inputs = this.own(new StepBuffers(this.device, limits));
      for (const bytes of this.plan.slotBytes) this.slots.push(this.own(this.device.alloc(bytes)));
      const sf = decodeScratchFloats(limits.maxSeqs, model.numHeads, model.headDim, maxSeqLen);
      const scratch = { out: this.own(this.device.alloc(4 * sf.out)), max: this.own(this.device.alloc(4 * sf.stats)), sum: this.own(this.device.alloc(4 * sf.stats)) };
      const quant = this.own(QuantScratch.allocate(this.device, quantScratchBytes(this.plan.ops, maxRows)));
      this.activationBytes = this.plan.slotBytes.reduce((a, b) => a + b, 0) + 4 * (sf.out + 2 * sf.stats) + this.inputs.device.bytes + quant.bytes;
      const tactics = tryReadTactics(engine.sections);
      this.runner = this.own(new PlanRunner(this.plan, {
        device: this.device, kernels, lt, weights: this.weights, kv: this.kv, inputs: this.inputs, slots: this.slots, scratch, maxSeqLen, quant,
        ...(tactics ? { tactics } : {}), ...(comm ? { comm } : {}),
      }));
      const graphs = graphMode(options.cudaGraphs, process.env['KILN_CUDA_GRAPHS']);
      this.useGraphs = graphs !== false;
      // A padded bucket must fit the step buffers too (max_num_tokens may be below max_batch_size).
      this.buckets = decodeBuckets(Math.min(build.maxBatchSize, limits.maxTokens, limits.maxLogits));
      this.sampler = this.own(new DeviceSampler(this.device, kernels, limits.maxLogits, this.vocab));
      this.stepDone = this.own(this.device.createEvent(false));
      if (graphs === 'load') this.captureAllGraphs(log);
      this.device.synchronize();
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  private own<T extends { dispose(): void }>(x: T): T {
    this.owned.push(x);
    return x;
  }

  private uploadWeights(engine: Engine, kernels: KernelSet, log: (l: string) => void): DeviceWeights {
    const names = [...new Set(engine.graph.tensors.filter((t) => t.kind === 'weight').map((t) => t.name!))];
    const dummy = engine.config.dummyWeights;
    if (dummy) {
      log(`[cuda] filling ${names.length} weights with seeded random values on the GPU (dummy weights, seed ${dummy.seed})`);
      return fillDummyWeights(this.device, this.stream, kernels, engine.graph, names, dummy.seed);
    }
    let lastPct = -1;
    const t0 = performance.now();
    const floatDtype = kernels.shapes.actDtype ?? 'bfloat16';
    return DeviceWeights.upload(this.device, this.stream, engine.weights, names, (done, total) => {
      const pct = Math.floor((100 * done) / total);
      if (pct >= lastPct + 10 || done === total) {
        lastPct = pct;
        log(`[cuda] uploading weights ${'#'.repeat(pct / 5)}${'.'.repeat(20 - Math.floor(pct / 5))} ${done}/${total} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      }
    }, { floatDtype });
  }

  run(step: StepInputs): Record<string, HostTensor> {
    const t0 = performance.now();
    try {
      return this.readLogits(this.launch(step));
    } finally {
      this.timing.runMs += performance.now() - t0;
    }
  }

  runAndSample(step: StepInputs, sampling: readonly RowSampling[]): SampledStep {
    const t0 = performance.now();
    try {
      const rows = this.launchSampled(step, sampling);
      const t1 = performance.now();
      this.stream.synchronize();
      const t2 = performance.now();
      const sampled = this.sampler.collect(rows);
      this.timing.gpuWaitMs += t2 - t1;
      this.timing.idsMs += performance.now() - t2;
      return sampled;
    } finally {
      this.timing.runMs += performance.now() - t0;
    }
  }

  /**
   * Enqueues the step and its sampling and returns at once; `done()` polls an event recorded
   * behind the results' copy (cuEventQuery between event-loop turns), so the loop never blocks.
   */
  enqueueAndSample(step: StepInputs, sampling: readonly RowSampling[]): PendingStep<SampledStep> {
    if (this.inFlight) throw new BackendError('enqueueAndSample: the previous step is still in flight; await its done() first');
    const t0 = performance.now();
    const rows = this.launchSampled(step, sampling);
    this.stepDone.record(this.stream);
    this.inFlight = true;
    this.timing.asyncSteps++;
    this.timing.runMs += performance.now() - t0;
    let result: Promise<SampledStep> | undefined;
    // After dispose() the event is gone: a late poll must not touch it.
    const event = { query: (): boolean => { if (this.disposed) throw new BackendError('this CUDA execution context was disposed while a step was in flight'); return this.stepDone.query(); } };
    return {
      done: () => (result ??= waitForEvent(event, (n) => (this.timing.asyncPolls += n)).then(
        () => { this.inFlight = false; return this.sampler.collect(rows); },
        (e: unknown) => { this.inFlight = false; throw e; },
      )),
    };
  }

  /** Enqueues the step, the token selection and the copy of the results; returns the rows. */
  private launchSampled(step: StepInputs, sampling: readonly RowSampling[]): number {
    const rows = this.launch(step);
    if (rows !== sampling.length) throw new BackendError(`runAndSample got ${sampling.length} sampling rows for ${rows} logits rows`);
    this.sampler.enqueue(this.runner.addr(this.plan.outputs[0]!.ref), sampling, this.stream);
    this.timing.sampledSteps++;
    return rows;
  }

  /**
   * Captures one CUDA graph per decode bucket now: each bucket first runs eagerly over an all-padding
   * step (creating its GEMM plans and rope tables, so nothing allocates or synchronizes inside the
   * capture), then is recorded. Padding rows write no KV (slot -1) and their logits are never read.
   */
  private captureAllGraphs(log: (l: string) => void): void {
    const t0 = performance.now();
    const empty = new Int32Array(0);
    const t = (data: Int32Array): HostTensor => ({ dtype: 'int32', shape: [data.length], data });
    const step: StepInputs = { tensors: { input_ids: t(empty), positions: t(empty), logits_indices: t(empty) }, attention: { seqs: [], slotMapping: empty } };
    for (const bucket of this.buckets) {
      const dims = { ...this.inputs.load(step, this.stream, bucket), decodeOnly: true };
      this.runner.enqueue(dims, this.stream, true);
      this.stream.synchronize();
      this.stream.beginCapture();
      this.runner.enqueue(dims, this.stream, true);
      this.graphs.set(bucket, this.stream.endCapture());
    }
    this.timing.graphsAtLoad = this.buckets.length;
    this.timing.graphCaptureMs = performance.now() - t0;
    log(`[cuda] captured ${this.buckets.length} decode CUDA graphs (batch buckets ${this.buckets.join(', ')}) in ${this.timing.graphCaptureMs.toFixed(0)} ms`);
  }

  /** Enqueues the step (graph replay for decode buckets seen before); returns its logits rows. */
  private launch(step: StepInputs): number {
    if (this.disposed) throw new BackendError('this CUDA execution context was disposed');
    if (step.blockCopies && step.blockCopies.length > 0) this.kv.copyBlocks(step.blockCopies, this.stream);
    const seqs = step.attention?.seqs ?? [];
    const isDecode = seqs.length > 0 && seqs.every((s) => s.numQueryTokens === 1);
    const bucket = this.buckets.find((b) => b >= seqs.length);
    if (this.useGraphs && isDecode && bucket !== undefined) {
      const dims = this.inputs.load(step, this.stream, bucket);
      const graph = this.graphs.get(bucket);
      if (graph) {
        graph.launch(this.stream);
        this.numGraphReplays++;
        return dims.realLogits;
      }
      // First use of the bucket: run eagerly (which creates its GEMM plans), then capture it for later
      // steps; capture records without executing, so the eager run's logits stay in the slot.
      this.runner.enqueue(dims, this.stream, true);
      this.numEagerSteps++;
      this.stream.synchronize();
      this.stream.beginCapture();
      this.runner.enqueue(dims, this.stream, true);
      this.graphs.set(bucket, this.stream.endCapture());
      return dims.realLogits;
    }
    const dims = this.inputs.load(step, this.stream);
    this.runner.enqueue(dims, this.stream, false);
    this.numEagerSteps++;
    return dims.realLogits;
  }

  private readLogits(rows: number): Record<string, HostTensor> {
    const out = this.plan.outputs[0]!;
    const t0 = performance.now();
    this.stream.synchronize();
    const t1 = performance.now();
    const n = rows * this.vocab;
    if (rows > 0) this.slots[out.ref.slot]!.download(this.logitsHost.subarray(0, n), this.stream);
    const data = this.logitsHost.subarray(0, n);
    this.timing.gpuWaitMs += t1 - t0;
    this.timing.logitsMs += performance.now() - t1;
    this.timing.logitsBytes += data.byteLength;
    return { [out.name]: { dtype: 'float32', shape: [rows, this.vocab], data } };
  }

  memoryUsage(): { weights: number; kvCache: number; activations: number; other: number } {
    const { freeBytes, totalBytes } = this.device.memInfo();
    const weights = this.weights.bytes;
    const kvCache = this.kv.bytes;
    const other = Math.max(0, totalBytes - freeBytes - weights - kvCache - this.activationBytes);
    return { weights, kvCache, activations: this.activationBytes, other };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (process.env['KILN_CUDA_PROFILE'] === '1') {
      const t = this.timing;
      process.stderr.write(`[cuda] ${this.numEagerSteps} eager steps, ${this.numGraphReplays} graph replays, ${t.sampledSteps} steps sampled on the GPU; ${t.runMs.toFixed(0)} ms in run()/runAndSample(), of which ${t.gpuWaitMs.toFixed(0)} ms waiting for the GPU, ${t.logitsMs.toFixed(0)} ms copying ${(t.logitsBytes / 2 ** 20).toFixed(0)} MiB of logits back and ${t.idsMs.toFixed(0)} ms copying token ids\n`);
    }
    try {
      this.device.synchronize();
    } finally {
      for (const g of this.graphs.values()) g.dispose();
      this.graphs.clear();
      for (const x of this.owned.reverse()) x.dispose();
      this.owned.length = 0;
      this.device.dispose();
    }
  }
}
