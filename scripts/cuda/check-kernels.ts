/** GPU checks of the elementwise kernels against the CPU backend's kernels (the reference). */
import type { CudaDevice, Stream } from '../../src/backends/cuda/device.js';
import type { KernelSet } from '../../src/backends/cuda/kernel-set.js';
import * as ops from '../../src/backends/cuda/ops.js';
import { ropeInvFreq } from '../../src/backends/cuda/rope.js';
import { addRmsnorm as cpuAddRmsnorm, rmsnorm as cpuRmsnorm } from '../../src/backends/cpu/kernels/norm.js';
import { siluMul as cpuSiluMul } from '../../src/backends/cpu/kernels/elementwise.js';
import { RopeTable, ropeInvFreq as cpuInvFreq } from '../../src/backends/cpu/kernels/rope.js';
import type { RopeScaling } from '../../src/models/config.js';
import { Arena, actTol, gbps, relError, Rng, toAct, type ActDtype, type CheckResult } from './harness.js';

export interface Ctx {
  readonly device: CudaDevice;
  readonly stream: Stream;
  readonly ks: KernelSet;
  readonly rng: Rng;
}

/** The activation dtype the context's kernels were compiled for (the checks below follow it). */
export const actOf = (c: Ctx): ActDtype => c.ks.shapes.actDtype ?? 'bfloat16';

export function checkEmbedding(c: Ctx): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const H = c.ks.shapes.hiddenSize, vocab = 8192, T = 1024;
    const table = toAct(c.rng.floats(vocab * H), actOf(c));
    const ids = Int32Array.from({ length: T }, () => c.rng.int(vocab));
    const dTable = a.upload(table.bits), dIds = a.upload(ids), out = a.poisoned(T * H * 2);
    ops.embedding(c.ks, c.stream, dIds, dTable, out, T, vocab);
    const got = new Uint16Array(T * H);
    out.download(got, c.stream);
    let mismatches = 0;
    for (let t = 0; t < T; t++) for (let j = 0; j < H; j++) if (got[t * H + j] !== table.bits[ids[t]! * H + j]) mismatches++;
    const ms = a.time(() => ops.embedding(c.ks, c.stream, dIds, dTable, out, T, vocab));
    return { name: `embedding T=${T} H=${H}`, pass: mismatches === 0, error: mismatches, tolerance: 0, ms, gbps: gbps(2 * T * H * 2, ms), note: 'bitwise copy; error = mismatching elements' };
  } finally { a.dispose(); }
}

export function checkRmsnorm(c: Ctx, withResidual: boolean): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const H = c.ks.shapes.hiddenSize, T = 2048, eps = 1e-5;
    const x = toAct(c.rng.floats(T * H, -2, 2), actOf(c)), res = toAct(c.rng.floats(T * H, -2, 2), actOf(c)), w = toAct(c.rng.floats(H, 0.5, 1.5), actOf(c));
    const dx = a.upload(x.bits), dres = a.upload(res.bits), dw = a.upload(w.bits), out = a.poisoned(T * H * 2);
    ops.addRmsnorm(c.ks, c.stream, dx, withResidual ? dres : null, dw, out, eps, T);
    const got = a.act(out, T * H, actOf(c));
    const ref = new Float32Array(T * H), sum = new Float32Array(T * H);
    if (withResidual) cpuAddRmsnorm(x.values, res.values, w.values, ref, sum, H, eps);
    else cpuRmsnorm(x.values, w.values, ref, H, eps);
    let err = relError(got, ref);
    if (withResidual) err = Math.max(err, relError(a.act(dres, T * H, actOf(c)), sum));
    // Timing without the residual update racing itself: x and residual stay as uploaded only in the plain case.
    const ms = a.time(() => ops.addRmsnorm(c.ks, c.stream, dx, withResidual ? dres : null, dw, out, eps, T));
    const bytes = T * H * 2 * (withResidual ? 4 : 2);
    return { name: `${withResidual ? 'add_rmsnorm' : 'rmsnorm'} T=${T} H=${H}`, pass: err < actTol(actOf(c)), error: err, tolerance: actTol(actOf(c)), ms, gbps: gbps(bytes, ms),
      note: withResidual ? 'error = max over normed output and the new residual' : undefined };
  } finally { a.dispose(); }
}

export function checkSiluMul(c: Ctx): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const I = c.ks.shapes.intermediateSize, T = 1024;
    const x = toAct(c.rng.floats(T * 2 * I, -4, 4), actOf(c));
    const dx = a.upload(x.bits), out = a.poisoned(T * I * 2);
    ops.siluMul(c.ks, c.stream, dx, out, T);
    const ref = new Float32Array(T * I);
    cpuSiluMul(x.values, ref, T, I);
    const err = relError(a.act(out, T * I, actOf(c)), ref);
    const ms = a.time(() => ops.siluMul(c.ks, c.stream, dx, out, T));
    return { name: `silu_mul T=${T} I=${I}`, pass: err < actTol(actOf(c)), error: err, tolerance: actTol(actOf(c)), ms, gbps: gbps(T * 3 * I * 2, ms) };
  } finally { a.dispose(); }
}

export const LLAMA3_SCALING: RopeScaling = { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };

/** RoPE + paged K/V write from a fused qkv activation; checks q, every written K/V row, and untouched slots. */
export function checkRopeKv(c: Ctx, scaling: RopeScaling): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const { numHeads: NH, numKvHeads: NKV, headDim: HD, tokensPerBlock: TPB } = c.ks.shapes;
    const T = 1024, numBlocks = 256, W = (NH + 2 * NKV) * HD, theta = 500000;
    const qkv = toAct(c.rng.floats(T * W), actOf(c));
    // Angles are f32 (as HF computes them): at position 1e5 that alone is ~1e-3 relative, so fp16 checks stay below 8192.
    const maxPos = actOf(c) === 'float16' ? 8192 : 131072;
    const positions = Int32Array.from({ length: T }, () => c.rng.int(maxPos));
    const slots = c.rng.permutation(numBlocks * TPB).slice(0, T);
    const inv = ropeInvFreq(HD, theta, scaling);
    const cpuInv = cpuInvFreq(HD, theta, scaling);
    const invErr = relError(inv, cpuInv);
    const dqkv = a.upload(qkv.bits), dpos = a.upload(positions), dslots = a.upload(slots), dinv = a.upload(inv);
    const qOut = a.poisoned(T * NH * HD * 2), kc = a.poisoned(numBlocks * TPB * NKV * HD * 2), vc = a.poisoned(numBlocks * TPB * NKV * HD * 2);
    const views = { q: dqkv, qOffset: 0, qStride: W, k: dqkv, kOffset: NH * HD, kStride: W, v: dqkv, vOffset: (NH + NKV) * HD, vStride: W };
    const run = (): void => ops.ropeWriteKv(c.ks, c.stream, views, dpos, dslots, dinv, qOut, NH * HD, kc, vc, T);
    run();
    const split = (off: number, width: number): Float32Array => {
      const o = new Float32Array(T * width);
      for (let t = 0; t < T; t++) o.set(qkv.values.subarray(t * W + off, t * W + off + width), t * width);
      return o;
    };
    const table = new RopeTable(HD, theta, scaling);
    const qRef = new Float32Array(T * NH * HD), kRef = new Float32Array(T * NKV * HD);
    table.apply(split(0, NH * HD), positions, qRef, NH);
    table.apply(split(NH * HD, NKV * HD), positions, kRef, NKV);
    const vRef = split((NH + NKV) * HD, NKV * HD);
    const kAll = a.act(kc, numBlocks * TPB * NKV * HD, actOf(c)), vAll = a.act(vc, numBlocks * TPB * NKV * HD, actOf(c));
    const row = NKV * HD, kGot = new Float32Array(T * row), vGot = new Float32Array(T * row);
    for (let t = 0; t < T; t++) {
      kGot.set(kAll.subarray(slots[t]! * row, (slots[t]! + 1) * row), t * row);
      vGot.set(vAll.subarray(slots[t]! * row, (slots[t]! + 1) * row), t * row);
    }
    let written = 0;
    for (let i = 0; i < kAll.length; i++) if (!Number.isNaN(kAll[i]!)) written++;
    const err = Math.max(relError(a.act(qOut, T * NH * HD, actOf(c)), qRef), relError(kGot, kRef), relError(vGot, vRef));
    const ms = a.time(run);
    const bytes = T * W * 2 + T * NH * HD * 2 + 2 * T * row * 2;
    const pass = err < actTol(actOf(c)) && written === T * row && invErr < 1e-6;
    return { name: `rope_write_kv (${scaling.type}) T=${T}`, pass, error: err, tolerance: actTol(actOf(c)), ms, gbps: gbps(bytes, ms),
      note: `positions < ${maxPos}; K cache elements written ${written} (expected ${T * row}); inv_freq f32 vs CPU f64 rel ${invErr.toExponential(1)}` };
  } finally { a.dispose(); }
}
