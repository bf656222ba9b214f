/**
 * What every cuBLASLt GEMM plan shares (gemm.ts for BF16/FP16, gemm-fp8.ts for FP8): a "TN"
 * matmul descriptor with FP32 compute, the three column-major layouts of D[M, N] = A[M, K] · W[N, K]ᵀ
 * (cuBLAS's A = W with transa = T, B = A, C = D = D), the heuristic query, and teardown.
 */
import { checkLt } from './bindings/native.js';
import { LT } from './bindings/prototypes.js';
import type { CublasLtHandle, GemmAlgo, GemmOperand } from './gemm.js';

export const i32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32LE(v); return b; };
export const u64 = (v: number | bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
export const ptrOf = (x: GemmOperand): number => (typeof x === 'number' ? x : x.ptr);

/** Descriptors of one TN matmul shape; `types` = [weight, activation, output] cudaDataType values. */
export class LtMatmul {
  private disposed = false;
  readonly desc: unknown;
  readonly layouts: readonly unknown[];
  readonly alpha = new Float32Array([1]);
  readonly beta = new Float32Array([0]);

  constructor(private readonly h: CublasLtHandle, m: number, n: number, k: number, types: readonly [number, number, number]) {
    const { lt } = h;
    const d: unknown[] = [null];
    checkLt(lt.cublasLtMatmulDescCreate(d, LT.COMPUTE_32F, LT.CUDA_R_32F), 'cublasLtMatmulDescCreate');
    this.desc = d[0];
    this.set(LT.DESC_TRANSA, i32(LT.OP_T));
    this.set(LT.DESC_TRANSB, i32(LT.OP_N));
    this.layouts = [[k, n, k], [k, m, k], [n, m, n]].map(([rows, cols, ld], i) => {
      const l: unknown[] = [null];
      checkLt(lt.cublasLtMatrixLayoutCreate(l, types[i], rows, cols, ld), 'cublasLtMatrixLayoutCreate');
      return l[0];
    });
  }

  set(attr: number, value: Buffer): void {
    checkLt(this.h.lt.cublasLtMatmulDescSetAttribute(this.desc, attr, value, value.length), 'cublasLtMatmulDescSetAttribute');
  }

  /** Up to `count` (≤ 8) candidates, best first by cuBLASLt's heuristic, for the descriptor as it is set now. */
  candidates(count: number): GemmAlgo[] {
    const { lt } = this.h;
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

  /** Enqueues D = op(W)·A (scaled/epilogue as the descriptor says) on `stream`; `what` names the call in errors. */
  run(stream: { handle: unknown } | null, algo: GemmAlgo, w: GemmOperand, a: GemmOperand, d: GemmOperand, what: string): void {
    const [lw, la, ld] = this.layouts;
    const { lt, handle, workspace } = this.h;
    const status = lt.cublasLtMatmul(handle, this.desc, this.alpha, ptrOf(w), lw, ptrOf(a), la, this.beta, ptrOf(d), ld, ptrOf(d), ld,
      algo.algo, workspace.ptr, workspace.bytes, stream?.handle ?? null);
    checkLt(status, what);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const l of this.layouts) checkLt(this.h.lt.cublasLtMatrixLayoutDestroy(l), 'cublasLtMatrixLayoutDestroy');
    checkLt(this.h.lt.cublasLtMatmulDescDestroy(this.desc), 'cublasLtMatmulDescDestroy');
  }
}
