/**
 * Enqueues one step of an `ExecPlan` on a stream: kernels through `ops.ts`, matmuls through
 * cuBLASLt plans cached per (rows bucket, shape), or the Kiln GEMV (gemv.ts) where the engine's tactic
 * chose it for a decode bucket. Every address it uses is fixed at load (arena
 * slots, weights, KV pools, step buffers), so the same calls can be captured into a CUDA graph.
 */
import { BackendError } from '../../errors/index.js';
import { ropeScalingAttr } from '../../graph/ops/index.js';
import type { Attrs } from '../../graph/types.js';
import { gatherReorderCopies, type DeviceCommunicator } from './collective.js';
import type { CudaDevice, DeviceBuffer, Stream } from './device.js';
import { tacticKey, type TacticsFile } from './engine-sections.js';
import type { ActRef, ExecPlan, PlanOp } from './exec-plan.js';
import { GemmPlan, type CublasLtHandle, type GemmAlgo, type GemmEpilogue } from './gemm.js';
import { runsGemv } from './gemm-tactic.js';
import { launchGemv } from './gemv.js';
import type { KernelSet } from './kernel-set.js';
import type { CudaKvCache } from './kv-cache.js';
import * as ops from './ops.js';
import { OpProfiler } from './op-profiler.js';
import { QuantOps, type QuantScratch } from './quant-ops.js';
import { ropeInvFreq } from './rope.js';
import type { StepBuffers, StepDims } from './step-buffers.js';
import type { DeviceWeights } from './weights.js';

/** GEMM rows are padded to a bucket so plans (and tuned tactics) are reused across steps. */
export function gemmRowsBucket(m: number): number {
  if (m <= 64) return 2 ** Math.ceil(Math.log2(Math.max(1, m)));
  return Math.ceil(m / 64) * 64;
}

export interface RunnerParts {
  readonly device: CudaDevice;
  readonly kernels: KernelSet;
  readonly lt: CublasLtHandle;
  readonly weights: DeviceWeights;
  readonly kv: CudaKvCache;
  readonly inputs: StepBuffers;
  readonly slots: readonly DeviceBuffer[];
  readonly scratch: ops.DecodeScratch;
  /** Longest sequence (tokens): decides decode splits inside captured graphs. */
  readonly maxSeqLen: number;
  readonly tactics?: TacticsFile;
  /** The rank group of a tensor-parallel engine (plans with all_reduce / all_gather ops need one). */
  readonly comm?: DeviceCommunicator;
  /** Scratch of the plan's fp8_gemm / wo_gemm ops (quant-ops.ts quantScratchBytes); required when it has any. */
  readonly quant?: QuantScratch;
}

export class PlanRunner {
  private readonly gemms = new Map<string, { plan: GemmPlan; algo: GemmAlgo; gemv: boolean }>();
  private readonly invFreqs = new Map<string, DeviceBuffer>();
  numTunedHits = 0;

  constructor(private readonly plan: ExecPlan, private readonly p: RunnerParts) {}

  /** Enqueues every op for `dims`; `forGraph` fixes decode splits to the longest sequence. */
  enqueue(dims: StepDims, stream: Stream, forGraph: boolean): void {
    const prof = forGraph ? null : OpProfiler.active(this.p.device); // KILN_CUDA_PROFILE=ops: events around each op of eager steps
    if (prof) return this.enqueueProfiled(prof, dims, stream);
    for (const op of this.plan.ops) this.enqueueOp(op, dims, stream, forGraph);
  }

  private enqueueProfiled(prof: OpProfiler, dims: StepDims, stream: Stream): void {
    prof.beginStep(dims, stream);
    for (const op of this.plan.ops) {
      prof.mark(op);
      this.enqueueOp(op, dims, stream, false);
    }
    prof.endStep();
  }

  addr(r: ActRef): number {
    return this.p.slots[r.slot]!.ptr + r.col * (r.f32 ? 4 : 2);
  }

  private rows(dim: string, d: StepDims): number {
    return dim === 'num_logits' ? d.numLogits : d.numTokens;
  }

  private enqueueOp(op: PlanOp, d: StepDims, s: Stream, forGraph: boolean): void {
    const { kernels: ks, weights: w, inputs } = this.p;
    if (op.op !== 'attention' && this.rows(op.rowsDim, d) === 0) return; // e.g. no sequence needs logits this step
    switch (op.op) {
      case 'embedding':
        return ops.embedding(ks, s, inputs.ptr('ids'), w.get(op.table), this.addr(op.out), this.rows(op.rowsDim, d), w.rowsOf(op.table));
      case 'gather':
        return ops.embedding(ks, s, inputs.ptr('logits'), this.addr(op.x), this.addr(op.out), this.rows(op.rowsDim, d), d.numTokens);
      case 'norm':
        return ops.addRmsnorm(ks, s, this.addr(op.x), op.residual ? this.addr(op.residual) : null, w.get(op.weight), this.addr(op.out), op.eps, this.rows(op.rowsDim, d));
      case 'silu_mul':
        return ops.siluMul(ks, s, this.addr(op.x), this.addr(op.out), this.rows(op.rowsDim, d));
      case 'gemm': {
        const rows = this.rows(op.rowsDim, d);
        const g = this.gemm(gemmRowsBucket(rows), op.n, op.k, op.epilogue, op.out.f32);
        if (g.gemv) { // the engine's tactic: the Kiln GEMV beat cuBLASLt here (gemm-tactic.ts); it computes the real rows only
          return launchGemv(ks, s, { m: rows, n: op.n, k: op.k, epilogue: op.epilogue, outF32: op.out.f32, a: this.addr(op.x), lda: op.x.stride,
            b: w.get(op.weight).ptr, ...(op.bias ? { bias: w.get(op.bias).ptr } : {}), d: this.addr(op.out), ldd: op.out.stride });
        }
        return g.plan.run(s, g.algo, this.addr(op.x), w.get(op.weight), this.addr(op.out), op.bias ? w.get(op.bias) : undefined);
      }
      case 'attention':
        return this.attention(op, d, s, forGraph);
      case 'all_reduce': case 'all_gather':
        return this.collective(op, this.rows(op.rowsDim, d), s);
      case 'silu': case 'binary':
        return this.quantOps().elementwise(op, this.rows(op.rowsDim, d), s);
      case 'fp8_gemm': case 'wo_gemm': {
        const rows = this.rows(op.rowsDim, d);
        return op.op === 'fp8_gemm' ? this.quantOps().fp8Gemm(op, rows, gemmRowsBucket(rows), s) : this.quantOps().woGemm(op, rows, gemmRowsBucket(rows), s);
      }
    }
  }

  private quant: QuantOps | undefined;
  private quantOps(): QuantOps {
    const scratch = this.p.quant;
    if (!scratch) throw new BackendError('this plan has quantized GEMMs but the CUDA context gave the runner no QuantScratch');
    return (this.quant ??= new QuantOps({
      kernels: this.p.kernels, lt: this.p.lt, weights: this.p.weights, scratch, addr: (r) => this.addr(r),
      gemm: (m, n, k, outF32) => this.gemm(m, n, k, 'none', outF32),
    }));
  }

  /** NCCL on the step's stream (captured into CUDA graphs like the kernels around it). */
  private collective(op: Extract<PlanOp, { op: 'all_reduce' | 'all_gather' }>, rows: number, s: Stream): void {
    const comm = this.p.comm;
    if (!comm || comm.size !== op.tpSize) throw new BackendError(`this engine is one rank of tp_size ${op.tpSize} but the CUDA context has ${comm ? `a group of ${comm.size}` : 'no NCCL communicator'}; load it through the tensor-parallel launcher (kiln serve/run --tp_size ${op.tpSize})`);
    const dtype = op.x.f32 ? 'float32' : 'bfloat16';
    if (op.op === 'all_reduce') return comm.allReduceSum(this.addr(op.x), rows * op.x.cols, dtype, s);
    comm.allGather(this.addr(op.x), this.addr(op.staging), rows * op.x.cols, dtype, s);
    const staging = this.p.slots[op.staging.slot]!, out = this.p.slots[op.out.slot]!;
    for (const c of gatherReorderCopies(rows, op.x.cols, op.tpSize, op.x.f32 ? 4 : 2)) out.copyFrom(staging, c.bytes, s, c.dstOffset, c.srcOffset);
  }

  private attention(op: Extract<PlanOp, { op: 'attention' }>, d: StepDims, s: Stream, forGraph: boolean): void {
    const { kernels: ks, kv, inputs } = this.p;
    const q = op.q.src;
    const k = op.k.src;
    const qPtr = this.addr(q);
    const kCache = kv.keys[op.layer];
    const vCache = kv.values[op.layer];
    if (!kCache || !vCache) throw new BackendError(`attention layer ${op.layer} is outside the KV cache (${kv.spec.numLayers} layers)`);
    const base = this.p.slots[q.slot]!.ptr;
    const scales = op.kvScales ?? undefined;
    if (scales && ks.shapes.kvDtype !== 'fp8e4m3') throw new BackendError(`attention layer ${op.layer} was built with --kv_cache_dtype fp8 but the kernels were compiled for a ${ks.shapes.kvDtype ?? 'bfloat16'} KV cache`);
    ops.ropeWriteKv(ks, s, {
      q: base, qOffset: q.col, qStride: q.stride,
      k: this.p.slots[k.slot]!.ptr, kOffset: k.col, kStride: k.stride,
      v: this.p.slots[op.v.slot]!.ptr, vOffset: op.v.col, vStride: op.v.stride,
    }, inputs.ptr('positions'), inputs.ptr('slots'), this.invFreq(op.q.attrs), qPtr, q.stride, kCache, vCache, d.numTokens, scales);
    const meta: ops.PagedMeta = { blockTables: inputs.ptr('tables'), maxBlocksPerSeq: inputs.limits.maxBlocksPerSeq, contextLens: inputs.ptr('ctxLens'), numSeqs: d.numSeqs };
    if (d.decodeOnly) {
      const maxContext = forGraph ? this.p.maxSeqLen : Math.max(1, d.maxContext);
      ops.attentionDecode(ks, s, qPtr, q.stride, inputs.ptr('qRows'), kCache, vCache, meta, maxContext, op.scale, this.p.scratch, this.addr(op.out), op.out.stride, scales);
    } else {
      ops.attentionPrefill(ks, s, qPtr, q.stride, this.addr(op.out), op.out.stride, kCache, vCache, meta,
        inputs.ptr('qStarts'), inputs.ptr('qLens'), d.maxQueryLen, op.scale, scales);
    }
  }

  private invFreq(attrs: Attrs): DeviceBuffer {
    const key = JSON.stringify([attrs['headDim'], attrs['theta'], attrs['scaling']]);
    let b = this.invFreqs.get(key);
    if (!b) {
      const f = ropeInvFreq(Number(attrs['headDim']), Number(attrs['theta']), ropeScalingAttr('rope', attrs['scaling']));
      b = this.p.device.alloc(f.byteLength);
      b.upload(f);
      this.p.device.synchronize();
      this.invFreqs.set(key, b);
    }
    return b;
  }

  /** The plan and algorithm for one GEMM: the engine's tuned tactic, else cuBLASLt's first choice; `gemv` when the tactic is the Kiln GEMV. */
  gemm(m: number, n: number, k: number, epilogue: GemmEpilogue, outF32: boolean): { plan: GemmPlan; algo: GemmAlgo; gemv: boolean } {
    const dtype = this.p.kernels.shapes.actDtype ?? 'bfloat16';
    const key = tacticKey(m, n, k, epilogue, outF32, dtype);
    let g = this.gemms.get(key);
    if (g) return g;
    const plan = new GemmPlan(this.p.lt, { m, n, k, epilogue, outF32, dtype });
    const tuned = this.p.tactics?.entries[key];
    let algo: GemmAlgo | undefined;
    if (tuned) {
      algo = { algo: Buffer.from(tuned.algoHex, 'hex'), workspaceBytes: tuned.workspaceBytes, wavesCount: 0 };
      this.numTunedHits++;
    } else {
      algo = plan.candidates(1)[0];
    }
    if (!algo) throw new BackendError(`cuBLASLt has no algorithm for GEMM ${key}`);
    g = { plan, algo, gemv: runsGemv(tuned, { m, k }) };
    this.gemms.set(key, g);
    return g;
  }

  dispose(): void {
    this.quant?.dispose();
    for (const g of this.gemms.values()) g.plan.dispose();
    this.gemms.clear();
    for (const b of this.invFreqs.values()) b.dispose();
    this.invFreqs.clear();
  }
}
