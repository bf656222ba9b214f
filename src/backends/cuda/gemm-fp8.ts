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
import { checkLt } from './bindings/native.js';
import { LT } from './bindings/prototypes.js';
import type { Stream } from './device.js';
import type { CublasLtHandle, GemmAlgo, GemmOperand } from './gemm.js';

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

const i32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32LE(v); return b; };
const u64 = (v: number): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
const ptrOf = (x: GemmOperand): number => (typeof x === 'number' ? x : x.ptr);

/** The descriptors of one FP8 GEMM shape. Owns them; `dispose()` frees them. */
export class Fp8GemmPlan {
  private disposed = false;
  private readonly desc: unknown;
  private readonly layouts: unknown[];
  private readonly alpha = new Float32Array([1]);
  private readonly beta = new Float32Array([0]);
  /** Scale pointers currently set on the descriptor (0: none, i.e. 1.0). */
  private scalePtrs = [0, 0];
  constructor(private readonly h: CublasLtHandle, readonly shape: Fp8GemmShape) {
    const { lt } = h;
    const d: unknown[] = [null];
    checkLt(lt.cublasLtMatmulDescCreate(d, LT.COMPUTE_32F, LT.CUDA_R_32F), 'cublasLtMatmulDescCreate');
    this.desc = d[0];
    this.setDesc(LT.DESC_TRANSA, i32(LT.OP_T));
    this.setDesc(LT.DESC_TRANSB, i32(LT.OP_N));
    const { m, n, k } = shape;
    const out = OUT_TYPE[shape.out];
    const types = [FP8_LT.CUDA_R_8F_E4M3, FP8_LT.CUDA_R_8F_E4M3, out];
    this.layouts = [[k, n, k], [k, m, k], [n, m, n]].map(([rows, cols, ld], i) => {
      const l: unknown[] = [null];
      checkLt(lt.cublasLtMatrixLayoutCreate(l, types[i], rows, cols, ld), 'cublasLtMatrixLayoutCreate');
      return l[0];
    });
  }
  private setDesc(attr: number, value: Buffer): void {
    checkLt(this.h.lt.cublasLtMatmulDescSetAttribute(this.desc, attr, value, value.length), 'cublasLtMatmulDescSetAttribute');
  }
  private setScales(wScale: number, aScale: number): void {
    if (wScale !== this.scalePtrs[0]) this.setDesc(FP8_LT.DESC_A_SCALE_POINTER, u64(wScale));
    if (aScale !== this.scalePtrs[1]) this.setDesc(FP8_LT.DESC_B_SCALE_POINTER, u64(aScale));
    this.scalePtrs = [wScale, aScale];
  }
  /**
   * Up to `count` candidates, best first. `scaled`: the heuristic is asked with scale pointers set
   * (some kernels differ when scales are present); pass true when `run` will pass scales.
   */
  candidates(count = 8, scaled = false): GemmAlgo[] {
    const { lt } = this.h;
    this.setScales(scaled ? 256 : 0, scaled ? 256 : 0);
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
  /**
   * Enqueues D = (A·Wᵀ)·aScale·wScale. `a` fp8 [M, K], `w` fp8 [N, K], `d` [M, N] of `shape.out`;
   * `wScale` / `aScale`: device float32 scalars, or 0 for 1.0.
   */
  run(stream: Stream | null, algo: GemmAlgo, a: GemmOperand, w: GemmOperand, d: GemmOperand, wScale: GemmOperand | 0, aScale: GemmOperand | 0): void {
    this.setScales(wScale === 0 ? 0 : ptrOf(wScale), aScale === 0 ? 0 : ptrOf(aScale));
    const [la, lb, lc] = this.layouts;
    const { lt, handle, workspace } = this.h;
    const status = lt.cublasLtMatmul(handle, this.desc, this.alpha, ptrOf(w), la, ptrOf(a), lb, this.beta, ptrOf(d), lc, ptrOf(d), lc,
      algo.algo, workspace.ptr, workspace.bytes, stream?.handle ?? null);
    checkLt(status, 'cublasLtMatmul (fp8)');
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const l of this.layouts) checkLt(this.h.lt.cublasLtMatrixLayoutDestroy(l), 'cublasLtMatrixLayoutDestroy');
    checkLt(this.h.lt.cublasLtMatmulDescDestroy(this.desc), 'cublasLtMatmulDescDestroy');
  }
}
