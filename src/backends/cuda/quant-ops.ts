/**
 * The quantized GEMMs of an ExecPlan (exec-plan.ts Fp8GemmOp / WoGemmOp) on a stream:
 *   fp8_gemm: quantize_fp8_rows (x → e4m3 codes + per-row scales), the cuBLASLt FP8 GEMM
 *     (gemm-fp8.ts) with both scales fused when they are per-tensor and static, else unit scales
 *     and fp8_rescale (out *= rowScale[m] · colScale[n]) after it;
 *   wo_gemm: ≤ WO_GEMV_MAX_ROWS rows → wo_gemv (dequantizes in registers, reads the packed weight
 *     once; int4 on tensor cores by default, see int4GemvKernel); more rows → wo_dequant into a bf16 scratch [N, K] then the plan's bf16 GEMM;
 *   silu / binary: the elementwise ops quantized graphs keep unfused (unmerged gate/up, biases).
 * Scratch buffers (`QuantScratch`) are sized from the plan once at load, so enqueue allocates
 * nothing and CUDA graphs can capture every launch.
 */
import { arg, type CudaDevice, type DeviceBuffer, type Stream } from './device.js';
import type { ActRef, MaxRows, PlanOp, Fp8GemmOp, WoGemmOp } from './exec-plan.js';
import { Fp8GemmPlan, type Fp8OutDtype } from './gemm-fp8.js';
import type { CublasLtHandle, GemmAlgo, GemmPlan } from './gemm.js';
import type { KernelEntry, KernelSet } from './kernel-set.js';
import type { DeviceWeights } from './weights.js';
import { BackendError } from '../../errors/index.js';

/** Rows up to which wo_gemm runs the GEMV kernel (its widest specialisation). */
export const WO_GEMV_MAX_ROWS = 8;
/** Output rows per GEMV block and threads per block (WO_ROWS / WO_THREADS in wo_gemm.cu). */
const WO_ROWS = 4;
const WO_THREADS = 128;
/** wo_gemv_int4_mma: output rows per block, threads per block, K columns per warp step (TC_ROWS, TC_WARPS · 32, TC_SLICE). */
const MMA_ROWS = 16;
const MMA_THREADS = 256;
const MMA_SLICE = 128;

/** The int4 GEMV kernels: 'mma' (tensor cores, wo_gemv_int4_mma) or 'fma' (CUDA cores, wo_gemv_int4_m{1,2,4,8}). */
export type Int4GemvKernel = 'mma' | 'fma';

/**
 * The int4 GEMV kernel for K × groupSize: `forced` (else KILN_WO_GEMV_INT4=fma|mma from `env`), else
 * mma; mma only where its shape rules hold (K % 128 == 0, groupSize % 32 == 0), fma otherwise.
 */
export function int4GemvKernel(k: number, groupSize: number, forced?: Int4GemvKernel,
  env: Readonly<Record<string, string | undefined>> = process.env): Int4GemvKernel {
  const want = forced ?? int4GemvPreference(env);
  return want === 'mma' && k % MMA_SLICE === 0 && groupSize % 32 === 0 ? 'mma' : 'fma';
}

/** The int4 GEMV kernel asked for by KILN_WO_GEMV_INT4 (fma), else mma. */
export function int4GemvPreference(env: Readonly<Record<string, string | undefined>> = process.env): Int4GemvKernel {
  return env['KILN_WO_GEMV_INT4'] === 'fma' ? 'fma' : 'mma';
}

export interface QuantScratchBytes {
  /** fp8 activation codes: max over fp8 GEMMs of rows × K. */
  readonly fp8Act: number;
  /** Per-row float32 activation scales. */
  readonly rowScale: number;
  /** The dequantized weight of the largest weight-only GEMM (bf16 [N, K]). */
  readonly dequant: number;
}

/** What the plan's quantized ops need (0 where it has none of a kind). */
export function quantScratchBytes(ops: readonly PlanOp[], maxRows: MaxRows): QuantScratchBytes {
  let fp8Act = 0, rowScale = 0, dequant = 0;
  for (const op of ops) {
    if (op.op === 'fp8_gemm') {
      fp8Act = Math.max(fp8Act, maxRows(op.rowsDim) * op.k);
      rowScale = Math.max(rowScale, 4 * maxRows(op.rowsDim));
    } else if (op.op === 'wo_gemm') {
      dequant = Math.max(dequant, 2 * op.n * op.k);
    }
  }
  return { fp8Act, rowScale, dequant };
}

/** Device scratch of the quantized ops. Owns the buffers; `dispose()` frees them. */
export class QuantScratch {
  private constructor(readonly fp8Act: DeviceBuffer | null, readonly rowScale: DeviceBuffer | null, readonly dequant: DeviceBuffer | null) {}
  static allocate(device: CudaDevice, b: QuantScratchBytes): QuantScratch {
    const bufs: DeviceBuffer[] = [];
    const take = (bytes: number): DeviceBuffer | null => {
      if (bytes === 0) return null;
      const buf = device.alloc(bytes);
      bufs.push(buf);
      return buf;
    };
    try {
      return new QuantScratch(take(b.fp8Act), take(b.rowScale), take(b.dequant));
    } catch (e) {
      for (const x of bufs) x.dispose();
      throw e;
    }
  }
  get bytes(): number {
    return (this.fp8Act?.bytes ?? 0) + (this.rowScale?.bytes ?? 0) + (this.dequant?.bytes ?? 0);
  }
  dispose(): void {
    this.fp8Act?.dispose();
    this.rowScale?.dispose();
    this.dequant?.dispose();
  }
}

/** What the quantized ops borrow from the PlanRunner. */
export interface QuantParts {
  readonly kernels: KernelSet;
  readonly lt: CublasLtHandle;
  readonly weights: DeviceWeights;
  readonly scratch: QuantScratch;
  readonly addr: (r: ActRef) => number;
  /** The bf16 GEMM plan (and algorithm) for D[m, n] = A[m, k]·B[n, k]ᵀ. */
  readonly gemm: (m: number, n: number, k: number, outF32: boolean) => { plan: GemmPlan; algo: GemmAlgo };
  /** Forces the int4 GEMV kernel (the device checks time both); default: int4GemvKernel's choice. */
  readonly int4Gemv?: Int4GemvKernel;
}

const need = (b: DeviceBuffer | null, what: string): DeviceBuffer => {
  if (!b) throw new BackendError(`the CUDA context allocated no ${what} scratch for this plan; this is a bug in QuantScratch sizing`);
  return b;
};

const GEMV_ENTRIES: Record<4 | 8, Record<1 | 2 | 4 | 8, KernelEntry>> = {
  4: { 1: 'wo_gemv_int4_m1', 2: 'wo_gemv_int4_m2', 4: 'wo_gemv_int4_m4', 8: 'wo_gemv_int4_m8' },
  8: { 1: 'wo_gemv_int8_m1', 2: 'wo_gemv_int8_m2', 4: 'wo_gemv_int8_m4', 8: 'wo_gemv_int8_m8' },
};

/** The GEMV specialisation for `rows` (1, 2, 4 or 8 rows of capacity). */
export function gemvCapacity(rows: number): 1 | 2 | 4 | 8 {
  return rows <= 1 ? 1 : rows <= 2 ? 2 : rows <= 4 ? 4 : 8;
}

/** Enqueues quantized GEMMs; caches one FP8 plan per (rows bucket, N, K, out dtype). */
export class QuantOps {
  private readonly fp8Plans = new Map<string, { plan: Fp8GemmPlan; algo: GemmAlgo }>();
  /** The int4 GEMV kernel asked for, resolved once (not on every launch). */
  private readonly int4Want: Int4GemvKernel;
  constructor(private readonly p: QuantParts) {
    this.int4Want = p.int4Gemv ?? int4GemvPreference();
  }

  /** `rows`: the step's real rows; `m`: the GEMM rows bucket (≥ rows, within the activation slots). */
  fp8Gemm(op: Fp8GemmOp, rows: number, m: number, s: Stream): void {
    const { kernels: ks, weights: w, scratch } = this.p;
    const codes = need(scratch.fp8Act, 'fp8 activation'), rowScale = need(scratch.rowScale, 'fp8 row-scale');
    const staticScale = op.inputScale ? w.get(op.inputScale).ptr : 0;
    ks.get('quantize_fp8_rows').launch({ grid: [rows], block: [256] }, s,
      [arg.ptr(this.p.addr(op.x)), arg.i32(op.k), arg.ptr(codes), arg.ptr(rowScale), arg.ptr(staticScale)]);
    const fused = op.inputScale !== null && !op.perChannel;
    const g = this.fp8Plan(m, op.n, op.k, op.out.f32 ? 'float32' : ks.shapes.actDtype ?? 'bfloat16', fused);
    const wScale = w.get(op.weightScale);
    g.plan.run(s, g.algo, codes, w.get(op.weight), this.p.addr(op.out), fused ? wScale : 0, fused ? staticScale : 0);
    if (fused) return;
    ks.get('fp8_rescale').launch({ grid: [Math.ceil(op.n / 256), rows], block: [256] }, s, [
      arg.ptr(this.p.addr(op.out)), arg.i32(op.n), arg.i32(op.out.f32 ? 1 : 0),
      arg.ptr(op.inputScale ? staticScale : rowScale.ptr), arg.i32(op.inputScale ? 0 : 1), arg.ptr(wScale), arg.i32(op.perChannel ? 1 : 0)]);
  }

  woGemm(op: WoGemmOp, rows: number, m: number, s: Stream): void {
    const { kernels: ks, weights: w } = this.p;
    const zeros = op.zeros ? w.get(op.zeros).ptr : 0, pre = op.preScale ? w.get(op.preScale).ptr : 0;
    if (op.gemv && rows <= WO_GEMV_MAX_ROWS && !op.out.f32) {
      const mma = op.bits === 4 && int4GemvKernel(op.k, op.groupSize, this.int4Want) === 'mma';
      const [entry, rowsPerBlock, threads] = mma ? ['wo_gemv_int4_mma' as const, MMA_ROWS, MMA_THREADS] : [GEMV_ENTRIES[op.bits][gemvCapacity(rows)], WO_ROWS, WO_THREADS];
      ks.get(entry).launch({ grid: [Math.ceil(op.n / rowsPerBlock)], block: [threads] }, s, [
        arg.ptr(this.p.addr(op.x)), arg.i32(op.x.stride), arg.i32(rows), arg.i32(op.n), arg.i32(op.k), arg.ptr(w.get(op.weight)),
        arg.ptr(w.get(op.scales)), arg.ptr(zeros), arg.ptr(pre), arg.i32(op.groupSize), arg.ptr(this.p.addr(op.out)), arg.i32(op.out.stride)]);
      return;
    }
    const deq = need(this.p.scratch.dequant, 'dequantized weight');
    ks.get(op.bits === 4 ? 'wo_dequant_int4' : 'wo_dequant_int8').launch({ grid: [Math.ceil(op.k / 256), op.n], block: [256] }, s, [
      arg.ptr(w.get(op.weight)), arg.ptr(w.get(op.scales)), arg.ptr(zeros), arg.ptr(pre), arg.i32(op.k), arg.i32(op.groupSize), arg.ptr(deq)]);
    const g = this.p.gemm(m, op.n, op.k, op.out.f32);
    g.plan.run(s, g.algo, this.p.addr(op.x), deq, this.p.addr(op.out));
  }

  /** silu / binary ops (exec-plan.ts) over `rows` rows. */
  elementwise(op: Extract<PlanOp, { op: 'silu' | 'binary' }>, rows: number, s: Stream): void {
    const cols = op.out.cols;
    const dims = { grid: [Math.ceil(cols / 256), rows] as [number, number], block: [256] as [number] };
    if (op.op === 'silu') {
      this.p.kernels.get('silu_rows').launch(dims, s, [arg.ptr(this.p.addr(op.x)), arg.i32(op.x.stride), arg.ptr(this.p.addr(op.out)), arg.i32(cols)]);
      return;
    }
    const y = op.y.kind === 'weight' ? { ptr: this.p.weights.get(op.y.name).ptr, stride: 0 } : { ptr: this.p.addr(op.y), stride: op.y.stride };
    this.p.kernels.get('binary_rows').launch(dims, s, [arg.ptr(this.p.addr(op.x)), arg.i32(op.x.stride), arg.ptr(y.ptr), arg.i32(y.stride),
      arg.ptr(this.p.addr(op.out)), arg.i32(cols), arg.i32(op.mul ? 1 : 0)]);
  }

  private fp8Plan(m: number, n: number, k: number, out: Fp8OutDtype, scaled: boolean): { plan: Fp8GemmPlan; algo: GemmAlgo } {
    const key = `${m}x${n}x${k}:${out}:${scaled ? 's' : 'u'}`;
    let g = this.fp8Plans.get(key);
    if (g) return g;
    const plan = new Fp8GemmPlan(this.p.lt, { m, n, k, out });
    const algo = plan.candidates(1, scaled)[0];
    if (!algo) {
      plan.dispose();
      throw new BackendError(`cuBLASLt has no FP8 algorithm for M=${m} N=${n} K=${k} (${out} out) on this GPU; FP8 GEMMs need sm_89 or newer`);
    }
    g = { plan, algo };
    this.fp8Plans.set(key, g);
    return g;
  }

  dispose(): void {
    for (const g of this.fp8Plans.values()) g.plan.dispose();
    this.fp8Plans.clear();
  }
}
