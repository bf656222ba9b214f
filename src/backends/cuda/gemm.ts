/**
 * BF16/FP16 GEMMs through cuBLASLt: D[M, N] = A[M, K] · B[N, K]ᵀ (+ bias[N]) (→ GELU/ReLU), FP32
 * accumulate; A, B, bias and D in the plan's dtype (D optionally float32, e.g. the logits). A is the row-major activation, B the HF Linear weight [out, in] ("TN"). In cuBLAS's
 * column-major view this is Dᵀ = op_T(B) · Aᵀ, so the weight is cuBLAS's A with transa = T.
 */
import { checkLt, loadCublasLt, type CublasLtApi } from './bindings/native.js';
import { LT } from './bindings/prototypes.js';
import type { CudaDevice, DeviceBuffer, Stream } from './device.js';
import { i32, LtMatmul, ptrOf, u64 } from './lt-plan.js';

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

/** The descriptors of one GEMM shape. Owns them; `dispose()` frees them. */
export class GemmPlan {
  private readonly mm: LtMatmul;
  private biasPtr = -1;
  constructor(h: CublasLtHandle, readonly shape: GemmShape) {
    const dt = cudaDataType(shape.dtype ?? 'bfloat16');
    this.mm = new LtMatmul(h, shape.m, shape.n, shape.k, [dt, dt, shape.outF32 ? LT.CUDA_R_32F : dt]);
    this.mm.set(LT.DESC_EPILOGUE, i32(EPILOGUES[shape.epilogue]));
  }
  /** Up to `count` (≤ 8) candidates, best first by cuBLASLt's heuristic. */
  candidates(count = 8, biasPtr = 0): GemmAlgo[] {
    if (this.shape.epilogue.endsWith('bias')) {
      this.mm.set(LT.DESC_BIAS_POINTER, u64(biasPtr || 256));
      this.biasPtr = biasPtr || 256;
    }
    return this.mm.candidates(count);
  }
  /** Enqueues D = A·Bᵀ (+bias, act). `a` [M,K], `b` [N,K], `d` [M,N] in the plan's dtype; `bias` [N] for *_bias. */
  run(stream: Stream | null, algo: GemmAlgo, a: GemmOperand, b: GemmOperand, d: GemmOperand, bias?: GemmOperand): void {
    if (this.shape.epilogue.endsWith('bias')) {
      if (bias === undefined) throw new Error(`GEMM epilogue ${this.shape.epilogue} needs a bias buffer`);
      const bp = ptrOf(bias);
      if (bp !== this.biasPtr) {
        this.mm.set(LT.DESC_BIAS_POINTER, u64(bp));
        this.biasPtr = bp;
      }
    }
    this.mm.run(stream, algo, b, a, d, 'cublasLtMatmul');
  }
  dispose(): void {
    this.mm.dispose();
  }
}

/** FLOPs of one GEMM (2·M·N·K). */
export function gemmFlops(s: GemmShape): number {
  return 2 * s.m * s.n * s.k;
}
