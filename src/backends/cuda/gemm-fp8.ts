/**
 * FP8 (E4M3) GEMMs through cuBLASLt on sm_89/sm_90: D[M, N] = (A[M, K] · W[N, K]ᵀ) · aScale · wScale,
 * FP32 accumulate, bf16 (or fp16 / f32) out. W is the fp8 qweight [N, K] and A the fp8-quantized
 * activation [M, K]; in cuBLAS's column-major view Dᵀ = op_T(W) · Aᵀ, the "TN" layout FP8 requires.
 * The per-tensor scales are device float32 scalars passed as A_SCALE_POINTER (the weight's) and
 * B_SCALE_POINTER (the activation's); either may be absent (scale 1), in which case the caller
 * rescales the output (quant-ops.ts fp8_rescale) for per-channel / per-token scales.
 * Alignment: K % 16 == 0 (fp8 leading dims must be 16-byte multiples) and N a multiple of 16 bytes
 * of the output type (`canFp8Gemm`).
 */
import { LT } from './bindings/prototypes.js';
import type { Stream } from './device.js';
import type { CublasLtHandle, GemmAlgo, GemmOperand } from './gemm.js';
import { LtMatmul, ptrOf, u64 } from './lt-plan.js';

/**
 * Enum values not in bindings/prototypes.ts: cudaDataType_t CUDA_R_8F_E4M3 = 28
 * (/usr/local/cuda-13.0/include/library_types.h); cublasLtMatmulDescAttributes_t
 * CUBLASLT_MATMUL_DESC_A_SCALE_POINTER = 17, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER = 18 (cublasLt.h of
 * CUDA 12.x/13.x; the header is not installed on the build machine, the values are those of every
 * published copy of cublasLt.h since CUDA 11.8).
 */
export const FP8_LT = { CUDA_R_8F_E4M3: 28, DESC_A_SCALE_POINTER: 17, DESC_B_SCALE_POINTER: 18 } as const;

export type Fp8OutDtype = 'bfloat16' | 'float16' | 'float32';

export interface Fp8GemmShape {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly out: Fp8OutDtype;
}

const OUT_TYPE: Record<Fp8OutDtype, number> = { bfloat16: LT.CUDA_R_16BF, float16: LT.CUDA_R_16F, float32: LT.CUDA_R_32F };
const OUT_BYTES: Record<Fp8OutDtype, number> = { bfloat16: 2, float16: 2, float32: 4 };

/** Why cuBLASLt's FP8 path cannot run [.., K] × [N, K]ᵀ, or undefined when it can. */
export function fp8GemmUnsupported(n: number, k: number, out: Fp8OutDtype = 'bfloat16'): string | undefined {
  if (k % 16 !== 0) return `K = ${k} is not a multiple of 16 (FP8 GEMMs need 16-byte aligned fp8 rows)`;
  if ((n * OUT_BYTES[out]) % 16 !== 0) return `N = ${n} ${out} outputs are not a multiple of 16 bytes per row`;
  return undefined;
}

/** The descriptors of one FP8 GEMM shape. Owns them; `dispose()` frees them. */
export class Fp8GemmPlan {
  private readonly mm: LtMatmul;
  /** Scale pointers currently set on the descriptor (0: none, i.e. 1.0). */
  private scalePtrs = [0, 0];
  constructor(h: CublasLtHandle, readonly shape: Fp8GemmShape) {
    this.mm = new LtMatmul(h, shape.m, shape.n, shape.k, [FP8_LT.CUDA_R_8F_E4M3, FP8_LT.CUDA_R_8F_E4M3, OUT_TYPE[shape.out]]);
  }
  private setScales(wScale: number, aScale: number): void {
    if (wScale !== this.scalePtrs[0]) this.mm.set(FP8_LT.DESC_A_SCALE_POINTER, u64(wScale));
    if (aScale !== this.scalePtrs[1]) this.mm.set(FP8_LT.DESC_B_SCALE_POINTER, u64(aScale));
    this.scalePtrs = [wScale, aScale];
  }
  /**
   * Up to `count` candidates, best first. `scaled`: the heuristic is asked with scale pointers set
   * (some kernels differ when scales are present); pass true when `run` will pass scales.
   */
  candidates(count = 8, scaled = false): GemmAlgo[] {
    this.setScales(scaled ? 256 : 0, scaled ? 256 : 0);
    return this.mm.candidates(count);
  }
  /**
   * Enqueues D = (A·Wᵀ)·aScale·wScale. `a` fp8 [M, K], `w` fp8 [N, K], `d` [M, N] of `shape.out`;
   * `wScale` / `aScale`: device float32 scalars, or 0 for 1.0.
   */
  run(stream: Stream | null, algo: GemmAlgo, a: GemmOperand, w: GemmOperand, d: GemmOperand, wScale: GemmOperand | 0, aScale: GemmOperand | 0): void {
    this.setScales(wScale === 0 ? 0 : ptrOf(wScale), aScale === 0 ? 0 : ptrOf(aScale));
    this.mm.run(stream, algo, w, a, d, 'cublasLtMatmul (fp8)');
  }
  dispose(): void {
    this.mm.dispose();
  }
}
