/**
 * Executor: the engine core's loop. Requests are submitted at any time; each step the scheduler
 * forms a batch, the model runner runs it, the scheduler's state is updated and every logits row
 * goes to its request, which samples and streams. The loop runs steps while there is work and
 * otherwise awaits a promise that the next submission resolves (no busy waiting, no timers); it
 * yields to the event loop between steps (setImmediate) so submissions and cancellations get in.
 *
 * Overlap ("async output processing", as vLLM's): with a context that can enqueue a step and
 * return (`enqueueAndSample`), step N+1 goes to the device as soon as it is scheduled, and the
 * output work of step N that the scheduler does not need (detokenization without stop strings,
 * stream pushes, request results) runs while the device computes; what decides scheduling (the
 * token, EOS/stop ids, max length, stop strings) is applied before N+1 is scheduled. The wait
 * for the device never blocks the event loop. Contexts without it run each step synchronously.
 *
 * Speculative scheduling (async contexts; KILN_ASYNC_SCHEDULING=0 turns it off): while step N
 * runs, step N+1 is scheduled and its inputs built assuming every sampled sequence continues
 * (speculation.ts); when N's tokens confirm it, N+1 is enqueued without scheduling or building.
 */
import { performance } from 'node:perf_hooks';
import { RequestError } from '../../errors/index.js';
import type { ExecutionContext, RowSampling, StepInputs } from '../../backends/types.js';
import type { TextTokenizer } from '../../tokenizer/types.js';
import type { ExecutorStats, GenerateRequest, RequestDelta, RequestResult } from '../api.js';
import { KVCacheManager } from '../kv-cache/kv-cache-manager.js';
import { enqueueStepSampled, runStep, runStepSampled, type SampledRunnerOutput } from '../runner/model-runner.js';
import type { SchedulerOutput } from '../scheduler/types.js';
import { createSamplingConfig } from '../sampling/params.js';
import { randomSeed } from '../sampling/prng.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { type HostOp, type PreparedStep, type Prediction, type Speculation, confirm, discard, isHit, rollback, speculate } from './speculation.js';
import { BeamRequest } from './beam-request.js';
import { DeltaStream } from './delta-stream.js';
import { type ActiveRequest, type RequestInfo, SamplingRequest, type SeqHost } from './request.js';

export interface ExecutorSettings {
  readonly maxBatchSize: number;
  readonly maxNumTokens: number;
  readonly maxInputLen: number;
  readonly maxOutputLen: number;
  /** Default true. */
  readonly chunkedPrefill?: boolean;
}

export interface ExecutorOptions {
  readonly context: ExecutionContext;
  readonly tokenizer: TextTokenizer;
  readonly settings: ExecutorSettings;
  /** Must match the KvCacheSpec the context was created with. */
  readonly kv: { readonly numBlocks: number; readonly tokensPerBlock: number; readonly enablePrefixCaching?: boolean };
}

interface Submitted {
  readonly request: ActiveRequest;
  readonly done: Promise<RequestResult>;
}

export class Executor {
  readonly scheduler: Scheduler;
  readonly kv: KVCacheManager;
  private readonly requests = new Map<string, ActiveRequest>();
  private readonly owners = new Map<number, ActiveRequest>();
  private readonly resolvers = new Map<ActiveRequest, (r: RequestResult) => void>();
  private nextSeqId = 0;
  private nextRequestId = 0;
  private wake: (() => void) | null = null;
  private closed = false;
  private numSteps = 0;
  private numPromptTokens = 0;
  private numGeneratedTokens = 0;
  private readonly host: SeqHost;
  /** Sample in the context when it can (KILN_HOST_SAMPLING=1 forces the logits path, for A/B runs). */
  private readonly deviceSampling: boolean;
  /** The context applies penalties/suppression and returns logprobs itself. */
  private readonly deviceExtras: boolean;
  /** Enqueue steps and await them (KILN_SYNC_STEPS=1 forces the synchronous path, for A/B runs). */
  private readonly asyncSteps: boolean;
  /** Output work queued by requests (SeqHost.output), run in order by flushOutputs(). */
  private readonly outputs: (() => void)[] = [];
  /** Schedule step N+1 while step N runs (async steps only; KILN_ASYNC_SCHEDULING=0 turns it off). */
  private readonly speculative: boolean;
  /** The speculation made for the step after the one in flight (undone by any submit, cancel or error). */
  private spec: Speculation | null = null;
  /** While a speculated step's tokens are delivered: the scheduler calls, recorded instead of applied. */
  private recording: HostOp[] | null = null;
  /** A confirmed speculation: the next step, ready to enqueue. */
  private ready: PreparedStep | null = null;
  private numSpecHits = 0;
  private numSpecMisses = 0;

  constructor(private readonly options: ExecutorOptions) {
    this.kv = new KVCacheManager(options.kv.numBlocks, options.kv.tokensPerBlock, options.kv.enablePrefixCaching ?? true);
    this.scheduler = new Scheduler(options.settings, this.kv);
    const ctx = options.context;
    this.deviceSampling = ctx.sampleOnDevice === true && process.env['KILN_HOST_SAMPLING'] !== '1';
    this.deviceExtras = this.deviceSampling && ctx.sampleExtrasOnDevice === true;
    this.asyncSteps = this.deviceSampling && typeof ctx.enqueueAndSample === 'function' && process.env['KILN_SYNC_STEPS'] !== '1';
    this.speculative = this.asyncSteps && process.env['KILN_ASYNC_SCHEDULING'] !== '0';
    this.host = {
      fork: (parent, owner) => this.forkSeq(parent, owner),
      append: (seqId, tokenId) => {
        if (this.recording) this.recording.push({ op: 'append', seqId, tokenId });
        else this.scheduler.appendToken(seqId, tokenId);
      },
      release: (seqId) => {
        if (this.recording) this.recording.push({ op: 'release', seqId });
        else this.scheduler.finish(seqId);
        this.owners.delete(seqId);
      },
      output: (work) => {
        this.outputs.push(work);
      },
    };
    void this.loop();
  }

  /** Starts a request; its deltas stream as they are produced. Throws RequestError for an invalid request. */
  submit(request: GenerateRequest): AsyncIterable<RequestDelta> {
    return this.start(this.prepare(request)).request.info.stream;
  }

  /** Runs requests concurrently; results in input order. Rejects before starting any if one is invalid. */
  async generate(requests: readonly GenerateRequest[]): Promise<RequestResult[]> {
    const infos = requests.map((r) => this.prepare(r));
    const ids = new Set(infos.map((i) => i.id));
    if (ids.size !== infos.length) throw new RequestError('two requests of one batch share a requestId: make them unique', 'requestId');
    return Promise.all(infos.map((info) => this.start(info).done));
  }

  /** Ends a request: its outputs finish with 'cancelled' and its blocks return at once. False if unknown. */
  cancel(requestId: string): boolean {
    const req = this.requests.get(requestId);
    if (!req) return false;
    this.discardSpeculation();
    // Queued output first: the abort's final delta comes after every token already produced.
    this.flushOutputs();
    req.abort('cancelled');
    this.settle(req);
    this.flushOutputs();
    return true;
  }

  stats(): ExecutorStats {
    return {
      numWaiting: this.scheduler.numWaiting,
      numRunning: this.scheduler.numRunning,
      numPreemptions: this.scheduler.numPreemptions,
      kv: this.kv.stats(),
      numSteps: this.numSteps,
      numPromptTokens: this.numPromptTokens,
      numGeneratedTokens: this.numGeneratedTokens,
      speculation: { numHits: this.numSpecHits, numMisses: this.numSpecMisses },
    };
  }

  /** Cancels everything and stops the loop. The context stays owned by the caller. */
  close(): void {
    for (const id of [...this.requests.keys()]) this.cancel(id);
    this.closed = true;
    this.notify();
  }

  private prepare(request: GenerateRequest): RequestInfo {
    if (this.closed) throw new RequestError('the executor is closed');
    const { tokenizer } = this.options;
    const id = request.requestId ?? `req-${this.nextRequestId++}`;
    if (this.requests.has(id)) throw new RequestError(`request id ${id} is already in flight: use a unique requestId`, 'requestId');
    const cfg = createSamplingConfig(request.params);
    if (cfg.beamWidth > 1 && (cfg.stop.length > 0 || cfg.logprobs !== undefined)) {
      throw new RequestError('beam search supports neither stop strings nor logprobs here', 'beamWidth');
    }
    const promptTokens = request.promptTokenIds ? [...request.promptTokenIds] : request.prompt !== undefined ? tokenizer.encode(request.prompt) : null;
    if (!promptTokens) throw new RequestError('a request needs prompt or promptTokenIds', 'prompt');
    const bad = promptTokens.find((t) => !Number.isInteger(t) || t < 0 || t >= tokenizer.vocabSize);
    if (bad !== undefined) throw new RequestError(`prompt token id ${bad} is outside the vocabulary (size ${tokenizer.vocabSize})`, 'promptTokenIds');
    this.scheduler.checkRequest(promptTokens.length, cfg.maxNewTokens, Math.max(cfg.n, cfg.beamWidth));
    const endTokens = new Set([...cfg.stopTokenIds, ...(cfg.ignoreEos ? [] : tokenizer.eosTokenIds)]);
    const stream = new DeltaStream(() => this.cancel(id));
    const prompt = request.promptTokenIds ? null : (request.prompt ?? null);
    return { id, prompt, promptTokens, cfg, seed: cfg.seed ?? randomSeed(), endTokens, stream, tokenizer, submittedAt: performance.now() };
  }

  private start(info: RequestInfo): Submitted {
    const seqId = this.nextSeqId++;
    this.discardSpeculation();
    const req = info.cfg.beamWidth > 1 ? new BeamRequest(info, this.host, seqId) : new SamplingRequest(info, this.host, seqId);
    this.requests.set(info.id, req);
    this.owners.set(seqId, req);
    this.scheduler.add(seqId, info.promptTokens);
    this.numPromptTokens += info.promptTokens.length;
    const done = new Promise<RequestResult>((resolve) => this.resolvers.set(req, resolve));
    this.notify();
    return { request: req, done };
  }

  private forkSeq(parentSeqId: number, owner: ActiveRequest): number {
    const id = this.nextSeqId++;
    if (this.recording) this.recording.push({ op: 'fork', parentId: parentSeqId, seqId: id });
    else this.scheduler.fork(parentSeqId, id);
    this.owners.set(id, owner);
    return id;
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      if (!this.scheduler.hasWork()) {
        this.flushOutputs();
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      await this.step();
      // A confirmed speculation goes to the device at once (the wait for the step yielded already).
      if (!this.ready) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.flushOutputs();
  }

  private async step(): Promise<void> {
    let rows;
    let tokens;
    let overlapped = false;
    const ready = this.ready;
    this.ready = null;
    try {
      const out = ready?.out ?? this.scheduler.schedule();
      if (out.seqs.length > 0) this.numSteps++;
      // With work pending, an empty step would repeat forever: a scheduler bug, made loud.
      if (out.seqs.length === 0 && out.preempted.length === 0) throw new Error(`internal error: the scheduler made no progress (${this.scheduler.numWaiting} waiting, ${this.scheduler.numRunning} running)`);
      const sampling = this.tryDeviceSampling(out);
      overlapped = sampling !== undefined && this.asyncSteps;
      const inputs = ready?.inputs;
      if (sampling && overlapped) tokens = (await this.runOverlapped(out, sampling, inputs)).tokens;
      else if (sampling) tokens = runStepSampled(this.options.context, out, sampling, inputs).tokens;
      else rows = runStep(this.options.context, out, inputs).logits;
      // A speculation did this step's update already (see speculation.ts).
      if (!this.spec) this.scheduler.update(out);
    } catch (err) {
      this.failAll(err);
      return;
    }
    this.recording = this.spec ? [] : null;
    for (const { seqId, row } of rows ?? []) this.deliver(seqId, (req) => req.onLogits(seqId, row));
    for (const { seqId, tokenId, logprob } of tokens ?? []) this.deliver(seqId, (req) => req.onToken(seqId, tokenId, logprob));
    try {
      this.settleSpeculation();
    } catch (err) {
      this.failAll(err);
      return;
    }
    // An overlapped step's output work runs while the next step computes (or here, when none follows).
    if (!overlapped || !this.scheduler.hasWork()) this.flushOutputs();
  }

  /** Enqueues the step, runs the previous step's queued output work while the device computes, then waits (without blocking). */
  private async runOverlapped(out: SchedulerOutput, sampling: readonly RowSampling[], inputs?: StepInputs): Promise<SampledRunnerOutput> {
    const done = enqueueStepSampled(this.options.context, out, sampling, inputs).done();
    this.flushOutputs();
    if (this.speculative) this.spec = speculate(this.scheduler, out, (seqId) => this.predict(seqId)) ?? null;
    return done;
  }

  /** What step N's token will do to `seqId` as far as is certain before it arrives (see speculation.ts). */
  private predict(seqId: number): Prediction {
    const req = this.owners.get(seqId);
    if (!req || req.done) return 'none';
    return req.nextTokenEnds(seqId) ? 'release' : 'append';
  }

  /** After a speculated step's tokens were delivered (recorded): keep the prepared step, or undo and apply for real. */
  private settleSpeculation(): void {
    const spec = this.spec;
    const recorded = this.recording;
    this.spec = null;
    this.recording = null;
    if (!spec || !recorded) return;
    if (isHit(spec, recorded)) {
      try {
        this.ready = confirm(this.scheduler, spec, recorded);
      } catch (err) {
        rollback(this.scheduler, spec, recorded); // an internal error: leave the scheduler consistent, then fail loudly
        throw err;
      }
      this.numSpecHits++;
    } else {
      rollback(this.scheduler, spec, recorded);
      this.numSpecMisses++;
    }
  }

  /** A submit, cancel or error while a step runs: the scheduler goes back to before the speculation. */
  private discardSpeculation(): void {
    if (!this.spec) return;
    discard(this.scheduler, this.spec);
    this.spec = null;
    this.numSpecMisses++;
  }

  /** Runs the queued output work in order (work queued meanwhile runs too). */
  private flushOutputs(): void {
    for (let i = 0; i < this.outputs.length; i++) (this.outputs[i] as () => void)();
    this.outputs.length = 0;
  }

  private deliver(seqId: number, give: (req: ActiveRequest) => void): void {
    const req = this.owners.get(seqId);
    if (!req || req.done) return;
    const before = req.numGenerated;
    give(req);
    this.numGeneratedTokens += req.numGenerated - before;
    if (req.done) this.settle(req);
  }

  /**
   * One RowSampling per sequence needing logits when the context samples on its device and every
   * such row can be sampled there; otherwise undefined (the step returns logits to the host sampler).
   */
  private tryDeviceSampling(out: SchedulerOutput): RowSampling[] | undefined {
    if (!this.deviceSampling) return undefined;
    const sampling: RowSampling[] = [];
    for (const s of out.seqs) {
      if (!s.needsLogits) continue;
      const req = this.owners.get(s.seqId);
      // A row nobody will read (its request just ended) is sampled greedily and dropped.
      const row = !req || req.done ? GREEDY : req.tryRowSampling(s.seqId, this.deviceExtras);
      if (!row) return undefined;
      sampling.push(row);
    }
    return sampling;
  }

  /** A failed step (backend error) ends every request in flight with finishReason 'error'. */
  private failAll(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.discardSpeculation();
    this.flushOutputs();
    for (const req of [...this.requests.values()]) {
      req.abort('error', message);
      this.settle(req);
    }
    this.flushOutputs();
  }

  private settle(req: ActiveRequest): void {
    this.requests.delete(req.info.id);
    for (const [seqId, owner] of this.owners) if (owner === req) this.owners.delete(seqId);
    const resolve = this.resolvers.get(req);
    this.resolvers.delete(req);
    // After the request's queued output work, so the result holds all of its text.
    this.outputs.push(() => resolve?.(req.result()));
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

const GREEDY: RowSampling = { temperature: 0, topK: 0, topP: 1, minP: 0, uniform: 0 };
