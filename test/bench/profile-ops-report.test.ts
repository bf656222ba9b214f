/** The per-op profile's cost model and grouping (scripts/cuda/profile-ops-report.ts), by hand-computed Llama-3-8B figures. */
import { describe, expect, it } from 'vitest';
import type { ActRef, PlanOp } from '../../src/backends/cuda/exec-plan.js';
import { gemmRole, groupOps, markdownProfile, medianPerOp, opCost, type StepShape } from '../../scripts/cuda/profile-ops-report.js';

const M = { hiddenSize: 4096, numHeads: 32, numKvHeads: 8, headDim: 128 };
const ref = (cols: number, f32 = false): ActRef => ({ kind: 'act', slot: 0, col: 0, stride: cols, cols, f32 });
const qkv: PlanOp = { op: 'gemm', x: ref(4096), weight: 'model.layers.3.self_attn.qkv_proj.weight', bias: null, out: ref(6144), n: 6144, k: 4096, epilogue: 'none', rowsDim: 'num_tokens' };
const rope = { kind: 'rope' as const, src: ref(6144), attrs: {} };
const attn: PlanOp = { op: 'attention', q: rope, k: rope, v: ref(6144), out: ref(4096), layer: 3, scale: 1 };
const step = (seqs: StepShape['seqs'], numTokens: number): StepShape => ({ numTokens, numLogits: seqs.length, seqs, weightBytes: () => 2, kvBytes: 2 });
const bucket = (m: number): number => 2 ** Math.ceil(Math.log2(m));

describe('per-op profile cost model', () => {
  it('GEMM at M = 1: weight + activation bytes, 2·N·K FLOPs, keyed by role and padded shape', () => {
    expect(gemmRole('model.layers.31.mlp.down_proj.qweight')).toBe('mlp.down_proj');
    expect(opCost(qkv, M, step([{ numQueryTokens: 1, contextLen: 128 }], 1), bucket)).toEqual({
      key: 'gemm self_attn.qkv_proj 1×6144×4096', kind: 'gemm', bytes: 6144 * 4096 * 2 + 4096 * 2 + 6144 * 2, flops: 2 * 6144 * 4096,
    });
  });

  it('decode attention at context 128: QK and PV FLOPs over 128 keys; KV bytes read', () => {
    const c = opCost(attn, M, step([{ numQueryTokens: 1, contextLen: 128 }], 1), bucket);
    expect(c.flops).toBe(4 * 32 * 128 * 128);
    // rope_write_kv 2·8192 (q) + 2·1024·2 (k, v read) + 2·1024·2 (cache write); attention 8192 (q) + 2·128·8·128·2 (KV) + 8192 (out)
    expect(c.bytes).toBe(16384 + 4096 + 4096 + 8192 + 524288 + 8192);
    expect(c.key).toBe('attention (decode, rope + KV write included)');
  });

  it('prefill attention is causal: a 4-token prompt attends 1 + 2 + 3 + 4 keys', () => {
    expect(opCost(attn, M, step([{ numQueryTokens: 4, contextLen: 4 }], 4), bucket).flops).toBe(4 * 32 * 128 * 10);
  });

  it('groups ops by key (largest time first) with achieved rates, and medians per op position', () => {
    const s = step([{ numQueryTokens: 1, contextLen: 128 }], 1);
    const costs = [qkv, attn, qkv].map((o) => opCost(o, M, s, bucket));
    const groups = groupOps(costs, [0.02, 0.05, 0.03]);
    expect(groups.map((g) => [g.key, g.count])).toEqual([['gemm self_attn.qkv_proj 1×6144×4096', 2], ['attention (decode, rope + KV write included)', 1]]);
    expect(groups[0]!.ms).toBeCloseTo(0.05, 12);
    expect(groups[0]!.share).toBeCloseTo(0.5, 12);
    expect(groups[0]!.gbPerS).toBeCloseTo((2 * (6144 * 4096 * 2 + 4096 * 2 + 6144 * 2)) / 0.05e6, 9);
    expect(medianPerOp([[1, 5], [3, 4], [2, 9]])).toEqual([2, 5]);
    const md = markdownProfile({ name: 'decode-b1', numTokens: 1, numSeqs: 1, groups, sumOpsMs: 0.1, eagerSpanMs: 0.12, eagerWallMs: 0.5, hostEnqueueMs: 0.3, gapFreeSteps: '5/5', graphWallMs: 0.25 });
    expect(md).toContain('graph wall − sum of ops = 0.150 ms');
    expect(md).toContain('| gemm self_attn.qkv_proj 1×6144×4096 | 2 | 0.050 | 50.0% | 100.7 | 0.10 | 2014 | 2.01 |');
  });
});

describe('per-op profile cost model of quantized GEMMs', () => {
  const s = step([{ numQueryTokens: 1, contextLen: 128 }], 1);
  it('fp8: 1-byte codes + a per-tensor scale; int4 weight-only: half a byte + float32 group scales', () => {
    const fp8: PlanOp = { op: 'fp8_gemm', x: ref(4096), weight: 'model.layers.0.mlp.down_proj.qweight', weightScale: 's', inputScale: null, perChannel: false, out: ref(4096), n: 4096, k: 14336, rowsDim: 'num_tokens' };
    expect(opCost(fp8, M, s, bucket)).toEqual({ key: 'fp8_gemm mlp.down_proj 1×4096×14336', kind: 'gemm', bytes: 4096 * 14336 + 4 + 14336 * 2 + 4096 * 2, flops: 2 * 4096 * 14336 });
    const int4: PlanOp = { op: 'wo_gemm', x: ref(4096), weight: 'model.layers.0.mlp.down_proj.qweight', scales: 's', zeros: null, preScale: null, bits: 4, groupSize: 128, out: ref(4096), n: 4096, k: 14336, gemv: true, rowsDim: 'num_tokens' };
    expect(opCost(int4, M, s, bucket).bytes).toBe(4096 * 14336 / 2 + 4 * 4096 * 112 + 14336 * 2 + 4096 * 2);
    expect(opCost(int4, M, s, bucket).key).toBe('wo_gemm int4 gemv mlp.down_proj 1×4096×14336');
  });
});
