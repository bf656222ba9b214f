/**
 * BF16/FP16 GEMMs through cuBLASLt: D[M, N] = A[M, K] · B[N, K]ᵀ (+ bias[N]) (→ GELU/ReLU), FP32
 * accumulate; A, B, bias and D in the plan's dtype (D optionally float32, e.g. the logits). A is the row-major activation, B the HF Linear weight [out, in] ("TN"). In cuBLAS's
 * column-major view this is Dᵀ = op_T(B) · Aᵀ, so the weight is cuBLAS's A with transa = T.
 */
import { checkLt, loadCublasLt, type CublasLtApi } from './bindings/native.js';
import { LT } from './bindings/prototypes.js';
import type { CudaDevice, DeviceBuffer, Stream } from './device.js';

/** The 16-bit type of A, B, bias (and D unless outF32). */
export type GemmDtype = 'bfloat16' | 'float16';

/** cudaDataType of a GEMM dtype (CUDA_R_16BF = 14, CUDA_R_16F = 2). */
export function cudaDataType(dtype: GemmDtype): number {
  return dtype === 'float16' ? LT.CUDA_R_16F : LT.CUDA_R_16BF;
}

export type GemmEpilogue = 'none' | 'bias' | 'relu' | 'relu_bias' | 'gelu' | 'gelu_bias';

const EPILOGUES: Record<GemmEpilogue, number> = {
  none: LT.EPILOGUE_DEFAULT, bias: LT.EPILOGUE_BIAS, relu: LT.EPILOGUE_RELU,
  relu_bias: LT.EPILOGUE_RELU_BIAS, gelu: LT.EPILOGUE_GELU, gelu_bias: LT.EPILOGUE_GELU_BIAS,
};

export interface GemmShape {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly epilogue: GemmEpilogue;
  /** D in float32 instead of the 16-bit dtype (e.g. the LM head writing float32 logits). */
  readonly outF32?: boolean;
  /** A/B/bias/D dtype (default bfloat16). */
  readonly dtype?: GemmDtype;
}

/** A device buffer or a raw device address inside one (e.g. an arena slot). */
export type GemmOperand = DeviceBuffer | number;
const ptrOf = (x: GemmOperand): number => (typeof x === 'number' ? x : x.ptr);

/** A cuBLASLt handle and the workspace its matmuls may use. */
export class CublasLtHandle {
  private disposed = false;
  readonly lt: CublasLtApi;
  readonly handle: unknown;
  readonly workspace: DeviceBuffer;
  constructor(device: CudaDevice, workspaceBytes = 32 << 20) {
    this.lt = loadCublasLt();
    const h: unknown[] = [null];
    checkLt(this.lt.cublasLtCreate(h), 'cublasLtCreate');
    this.handle = h[0];
    this.workspace = device.alloc(workspaceBytes);
  }
  version(): number {
    return Number(this.lt.cublasLtGetVersion());
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.workspace.dispose();
    checkLt(this.lt.cublasLtDestroy(this.handle), 'cublasLtDestroy');
  }
}

/** One heuristic candidate: its opaque 64-byte algo and what cuBLASLt says about it. */
export interface GemmAlgo {
  readonly algo: Buffer;
  readonly workspaceBytes: number;
  readonly wavesCount: number;
}

const i32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32LE(v); return b; };
const u64 = (v: number | bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };

/** The descriptors of one GEMM shape. Owns them; `dispose()` frees them. */
export class GemmPlan {
  private disposed = false;
  private readonly desc: unknown;
  private readonly layouts: unknown[];
  private readonly alpha = new Float32Array([1]);
  private readonly beta = new Float32Array([0]);
  private biasPtr = -1;
  constructor(private readonly h: CublasLtHandle, readonly shape: GemmShape) {
    const { lt } = h;
    const d: unknown[] = [null];
    checkLt(lt.cublasLtMatmulDescCreate(d, LT.COMPUTE_32F, LT.CUDA_R_32F), 'cublasLtMatmulDescCreate');
    this.desc = d[0];
    this.setDesc(LT.DESC_TRANSA, i32(LT.OP_T));
    this.setDesc(LT.DESC_TRANSB, i32(LT.OP_N));
    this.setDesc(LT.DESC_EPILOGUE, i32(EPILOGUES[shape.epilogue]));
    const { m, n, k } = shape;
    const dt = cudaDataType(shape.dtype ?? 'bfloat16');
    const types = [dt, dt, shape.outF32 ? LT.CUDA_R_32F : dt];
    this.layouts = [[k, n, k], [k, m, k], [n, m, n]].map(([rows, cols, ld], i) => {
      const l: unknown[] = [null];
      checkLt(lt.cublasLtMatrixLayoutCreate(l, types[i], rows, cols, ld), 'cublasLtMatrixLayoutCreate');
      return l[0];
    });
  }
  private setDesc(attr: number, value: Buffer): void {
    checkLt(this.h.lt.cublasLtMatmulDescSetAttribute(this.desc, attr, value, value.length), 'cublasLtMatmulDescSetAttribute');
  }
  /** Up to `count` (≤ 8) candidates, best first by cuBLASLt's heuristic. */
  candidates(count = 8, biasPtr = 0): GemmAlgo[] {
    const { lt } = this.h;
    if (this.shape.epilogue.endsWith('bias')) {
      this.setDesc(LT.DESC_BIAS_POINTER, u64(biasPtr || 256));
      this.biasPtr = biasPtr || 256;
    }
    const pref: unknown[] = [null];
    checkLt(lt.cublasLtMatmulPreferenceCreate(pref), 'cublasLtMatmulPreferenceCreate');
    try {
      const ws = u64(this.h.workspace.bytes);
      checkLt(lt.cublasLtMatmulPreferenceSetAttribute(pref[0], LT.PREF_MAX_WORKSPACE_BYTES, ws, 8), 'cublasLtMatmulPreferenceSetAttribute');
      const results = Buffer.alloc(LT.HEURISTIC_RESULT_BYTES * count);
      const returned = [0];
      const [a, b, c] = this.layouts;
      checkLt(lt.cublasLtMatmulAlgoGetHeuristic(this.h.handle, this.desc, a, b, c, c, pref[0], count, results, returned), 'cublasLtMatmulAlgoGetHeuristic');
      const out: GemmAlgo[] = [];
      for (let i = 0; i < returned[0]!; i++) {
        const r = results.subarray(i * LT.HEURISTIC_RESULT_BYTES, (i + 1) * LT.HEURISTIC_RESULT_BYTES);
        out.push({ algo: Buffer.from(r.subarray(0, LT.ALGO_BYTES)), workspaceBytes: Number(r.readBigUInt64LE(64)), wavesCount: r.readFloatLE(76) });
      }
      return out;
    } finally {
      checkLt(lt.cublasLtMatmulPreferenceDestroy(pref[0]), 'cublasLtMatmulPreferenceDestroy');
    }
  }
  /** Enqueues D = A·Bᵀ (+bias, act). `a` [M,K], `b` [N,K], `d` [M,N] in the plan's dtype; `bias` [N] for *_bias. */
  run(stream: Stream | null, algo: GemmAlgo, a: GemmOperand, b: GemmOperand, d: GemmOperand, bias?: GemmOperand): void {
    if (this.shape.epilogue.endsWith('bias')) {
      if (bias === undefined) throw new Error(`GEMM epilogue ${this.shape.epilogue} needs a bias buffer`);
      const bp = ptrOf(bias);
      if (bp !== this.biasPtr) {
        this.setDesc(LT.DESC_BIAS_POINTER, u64(bp));
        this.biasPtr = bp;
      }
    }
    const [la, lb, lc] = this.layouts;
    const { lt, handle, workspace } = this.h;
    const status = lt.cublasLtMatmul(handle, this.desc, this.alpha, ptrOf(b), la, ptrOf(a), lb, this.beta, ptrOf(d), lc, ptrOf(d), lc,
      algo.algo, workspace.ptr, workspace.bytes, stream?.handle ?? null);
    checkLt(status, 'cublasLtMatmul');
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const l of this.layouts) checkLt(this.h.lt.cublasLtMatrixLayoutDestroy(l), 'cublasLtMatrixLayoutDestroy');
    checkLt(this.h.lt.cublasLtMatmulDescDestroy(this.desc), 'cublasLtMatmulDescDestroy');
  }
}

/** FLOPs of one GEMM (2·M·N·K). */
export function gemmFlops(s: GemmShape): number {
  return 2 * s.m * s.n * s.k;
}
