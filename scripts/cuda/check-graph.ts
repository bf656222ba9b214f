/**
 * CUDA graph capture and replay of one decode layer's kernel sequence (residual restore, add_rmsnorm,
 * rope_write_kv, attention_decode + combine, silu_mul) at batch 16: the replay must give the same
 * bits as running the kernels eagerly, and its time per step is reported next to the eager launches'.
 */
import * as ops from '../../src/backends/cuda/ops.js';
import { ropeInvFreq } from '../../src/backends/cuda/rope.js';
import { Arena, toBf16, type CheckResult } from './harness.js';
import { LLAMA3_SCALING, type Ctx } from './check-kernels.js';

export function checkGraph(c: Ctx): CheckResult {
  const a = new Arena(c.device, c.stream);
  try {
    const { hiddenSize: H, intermediateSize: I, numHeads: NH, numKvHeads: NKV, headDim: HD, tokensPerBlock: TPB } = c.ks.shapes;
    const B = 16, ctx = 1024, maxBlocks = ctx / TPB, numBlocks = B * maxBlocks, W = (NH + 2 * NKV) * HD;
    const up = (n: number, lo = -1, hi = 1) => a.upload(toBf16(c.rng.floats(n, lo, hi)).bits);
    const x = up(B * H), pristine = up(B * H), residual = a.alloc(B * H * 2), w = up(H, 0.5, 1.5), normed = a.alloc(B * H * 2);
    const qkv = up(B * W), kc = up(numBlocks * TPB * NKV * HD), vc = up(numBlocks * TPB * NKV * HD);
    const tables = c.rng.permutation(numBlocks);
    const slots = Int32Array.from({ length: B }, (_, s) => tables[s * maxBlocks + Math.floor((ctx - 1) / TPB)]! * TPB + ((ctx - 1) % TPB));
    if (new Set(slots).size !== B) throw new Error(`graph check: the ${B} slots are not distinct`);
    const meta = { blockTables: a.upload(tables), maxBlocksPerSeq: maxBlocks, contextLens: a.upload(new Int32Array(B).fill(ctx)), numSeqs: B };
    const positions = a.upload(new Int32Array(B).fill(ctx - 1)), slotMap = a.upload(slots), inv = a.upload(ropeInvFreq(HD, 500000, LLAMA3_SCALING));
    const qRot = a.alloc(B * NH * HD * 2), attn = a.alloc(B * NH * HD * 2), qRows = a.upload(Int32Array.from({ length: B }, (_, i) => i));
    const f = ops.decodeScratchFloats(B, NH, HD, ctx);
    const scratch = { out: a.alloc(f.out * 4), max: a.alloc(f.stats * 4), sum: a.alloc(f.stats * 4) };
    const gateUp = up(B * 2 * I, -4, 4), act = a.alloc(B * I * 2);
    const views = { q: qkv, qOffset: 0, qStride: W, k: qkv, kOffset: NH * HD, kStride: W, v: qkv, vOffset: (NH + NKV) * HD, vStride: W };
    const step = (): void => {
      residual.copyFrom(pristine, B * H * 2, c.stream);
      ops.addRmsnorm(c.ks, c.stream, x, residual, w, normed, 1e-5, B);
      ops.ropeWriteKv(c.ks, c.stream, views, positions, slotMap, inv, qRot, NH * HD, kc, vc, B);
      ops.attentionDecode(c.ks, c.stream, qRot, NH * HD, qRows, kc, vc, meta, ctx, 1 / Math.sqrt(HD), scratch, attn, NH * HD);
      ops.siluMul(c.ks, c.stream, gateUp, act, B);
    };
    const outputs = [normed, residual, attn, act];
    const names = ['normed', 'residual', 'attn', 'act'];
    const read = (): Uint16Array[] => outputs.map((o) => { const h = new Uint16Array(o.bytes / 2); o.download(h, c.stream); return h; });
    const poison = (): void => { for (const o of outputs) o.fill(0xff, c.stream); };
    /** Per output: elements whose bits differ between two reads. */
    const diff = (x: Uint16Array[], y: Uint16Array[]): string => names.map((n, i) => `${n} ${x[i]!.reduce((m, v, j) => m + (v === y[i]![j] ? 0 : 1), 0)}`).join(', ');
    const same = (x: Uint16Array[], y: Uint16Array[]): boolean => x.every((e, i) => e.every((v, j) => v === y[i]![j]));
    step();
    const eager = read();
    poison();
    step();
    const eager2 = read();
    poison();
    c.stream.beginCapture();
    step();
    const graph = c.stream.endCapture();
    try {
      graph.launch(c.stream);
      const replay = read();
      const ok = same(eager, replay) && same(eager, eager2);
      const eagerMs = a.time(step, 50);
      const graphMs = a.time(() => graph.launch(c.stream), 50);
      return { name: `cuda graph: decode layer kernels, batch ${B}, ctx ${ctx}`, pass: ok, ms: graphMs,
        note: `differing elements eager vs replay: ${diff(eager, replay)}; eager vs eager: ${diff(eager, eager2)}; eager ${eagerMs.toFixed(4)} ms vs graph ${graphMs.toFixed(4)} ms per step (6 launches + 1 copy)` };
    } finally { graph.dispose(); }
  } finally { a.dispose(); }
}
