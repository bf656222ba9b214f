/**
 * Every CPU kernel against a naive float64 reference written here. Tolerance 1e-5 absolute
 * (plus relative for large values): inputs are in [-1, 1], kernels store float32 results.
 */
import { describe, expect, it } from 'vitest';
import type { HostTensor } from '../../../src/backends/types.js';
import * as F from '../../../src/graph/functional.js';
import { Network, type Tensor } from '../../../src/graph/index.js';
import { f16BitsToF32, f32ToF16Bits } from '../../../src/graph/dtype.js';
import { contextOf, f32, i32, maxAbsDiff, randomArray, rng } from './helpers.js';

const next = rng(42);
const rand = (shape: number[]): HostTensor => f32(shape, randomArray(shape.reduce((a, b) => a * b, 1), next));

/** Builds a one-output network over the given inputs, runs it, returns the output. */
function runOp(inputs: Record<string, HostTensor>, build: (t: Record<string, Tensor>) => Tensor): HostTensor {
  const net = new Network();
  const ts: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(inputs)) ts[name] = net.addInput(name, [...t.shape], t.dtype);
  net.markOutput('out', build(ts));
  return contextOf(net).run({ tensors: inputs })['out']!;
}

function expectClose(got: HostTensor, shape: number[], want: ArrayLike<number>, tol = 1e-5): void {
  expect(got.shape).toEqual(shape);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got.data[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  expect(got.data.length).toBe(want.length);
  expect(worst).toBeLessThan(tol);
}

function naiveMatmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number, transposeB: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * b[transposeB ? j * k + p : p * n + j]!;
      out.push(s);
    }
  }
  return out;
}

/** erf by its Maclaurin series (exact to ~1e-15 for |x| <= 3). */
function erfRef(x: number): number {
  let sum = 0, term = x;
  for (let n = 0; n < 100; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const siluRef = (x: number): number => x / (1 + Math.exp(-x));

describe('CPU kernels vs naive references', () => {
  it('matmul, both layouts, batched leading dims', () => {
    const a = rand([2, 3, 7]), b = rand([7, 5]), bt = rand([5, 7]);
    expectClose(runOp({ a, b }, (t) => F.matmul(t['a']!, t['b']!)), [2, 3, 5], naiveMatmul(a.data, b.data, 6, 7, 5, false));
    expectClose(runOp({ a, bt }, (t) => F.matmul(t['a']!, t['bt']!, { transposeB: true })), [2, 3, 5], naiveMatmul(a.data, bt.data, 6, 7, 5, true));
  });

  it('fused_matmul: bias and each activation', () => {
    const a = rand([5, 9]), w = rand([6, 9]), bias = rand([6]);
    const base = naiveMatmul(a.data, w.data, 5, 9, 6, true).map((v, i) => v + bias.data[i % 6]!);
    const acts = { none: (v: number) => v, relu: (v: number) => Math.max(0, v), gelu: (v: number) => 0.5 * v * (1 + erfRef(v / Math.SQRT2)), silu: siluRef };
    for (const [act, f] of Object.entries(acts)) {
      const out = runOp({ a, w, bias }, (t) => F.fusedMatmul(t['a']!, t['w']!, t['bias']!, { transposeB: true, activation: act as 'none' }));
      expectClose(out, [5, 6], base.map(f));
    }
    const noBias = runOp({ a, w }, (t) => F.fusedMatmul(t['a']!, t['w']!, null, { transposeB: true }));
    expectClose(noBias, [5, 6], naiveMatmul(a.data, w.data, 5, 9, 6, true));
  });

  it('add/sub/mul/div with numpy broadcasting', () => {
    const a = rand([2, 1, 4]), b = rand([3, 1]), c = rand([4]);
    const ops = { add: (x: number, y: number) => x + y, sub: (x: number, y: number) => x - y, mul: (x: number, y: number) => x * y, div: (x: number, y: number) => x / y };
    for (const [name, f] of Object.entries(ops)) {
      const fn = F[name as 'add'];
      const want: number[] = [];
      for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) want.push(f(a.data[i * 4 + k]!, b.data[j]!));
      expectClose(runOp({ a, b }, (t) => fn(t['a']!, t['b']!)), [2, 3, 4], want, name === 'div' ? 1e-4 : 1e-5);
      const want2 = Array.from(a.data, (v, i) => f(v, c.data[i % 4]!));
      expectClose(runOp({ a, c }, (t) => fn(t['a']!, t['c']!)), [2, 1, 4], want2, name === 'div' ? 1e-4 : 1e-5);
      const want3 = Array.from(c.data, (v, i) => f(a.data[i]!, v));
      expectClose(runOp({ a: f32([4], a.data.subarray(0, 4)), c }, (t) => fn(t['a']!, t['c']!)), [4], want3, 1e-4);
    }
    const ints = runOp({ x: i32([3], [7, -7, 9]), y: i32([1], [2]) }, (t) => F.div(t['x']!, t['y']!));
    expect(ints.dtype).toBe('int32');
    expect(Array.from(ints.data)).toEqual([3, -3, 4]);
  });

  it('relu, gelu (erf), silu, softmax over each axis', () => {
    const x = f32([2, 3, 4], randomArray(24, next).map((v) => v * 3));
    expectClose(runOp({ x }, (t) => F.relu(t['x']!)), [2, 3, 4], Array.from(x.data, (v) => Math.max(0, v)));
    expectClose(runOp({ x }, (t) => F.gelu(t['x']!)), [2, 3, 4], Array.from(x.data, (v) => 0.5 * v * (1 + erfRef(v / Math.SQRT2))), 1e-6);
    expectClose(runOp({ x }, (t) => F.silu(t['x']!)), [2, 3, 4], Array.from(x.data, siluRef));
    for (const axis of [0, 1, 2, -1]) {
      const ax = (axis + 3) % 3;
      const shape = [2, 3, 4];
      const want = new Array<number>(24);
      const idx = (i: number, j: number, k: number) => (i * 3 + j) * 4 + k;
      for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) {
        let sum = 0;
        for (let r = 0; r < shape[ax]!; r++) sum += Math.exp(x.data[idx(ax === 0 ? r : i, ax === 1 ? r : j, ax === 2 ? r : k)]!);
        want[idx(i, j, k)] = Math.exp(x.data[idx(i, j, k)]!) / sum;
      }
      expectClose(runOp({ x }, (t) => F.softmax(t['x']!, axis)), shape, want);
    }
  });

  it('rmsnorm, layernorm (with and without bias), add_rmsnorm', () => {
    const x = rand([3, 8]), r = rand([3, 8]), w = rand([8]), b = rand([8]);
    const rms = (v: ArrayLike<number>) => Array.from(v, (_, i) => {
      const row = Math.floor(i / 8);
      let ss = 0;
      for (let j = 0; j < 8; j++) ss += v[row * 8 + j]! ** 2;
      return (v[i]! / Math.sqrt(ss / 8 + 1e-6)) * w.data[i % 8]!;
    });
    expectClose(runOp({ x, w }, (t) => F.rmsnorm(t['x']!, t['w']!, 1e-6)), [3, 8], rms(x.data));
    const ln = (bias: boolean) => Array.from(x.data, (v, i) => {
      const row = Array.from(x.data.subarray(Math.floor(i / 8) * 8, Math.floor(i / 8) * 8 + 8));
      const mean = row.reduce((s, y) => s + y, 0) / 8;
      const vr = row.reduce((s, y) => s + (y - mean) ** 2, 0) / 8;
      return ((v - mean) / Math.sqrt(vr + 1e-5)) * w.data[i % 8]! + (bias ? b.data[i % 8]! : 0);
    });
    expectClose(runOp({ x, w, b }, (t) => F.layernorm(t['x']!, t['w']!, t['b']!, 1e-5)), [3, 8], ln(true));
    expectClose(runOp({ x, w }, (t) => F.layernorm(t['x']!, t['w']!, null, 1e-5)), [3, 8], ln(false));
    const sum = Array.from(x.data, (v, i) => v + r.data[i]!);
    expectClose(runOp({ x, r, w }, (t) => F.addRmsnorm(t['x']!, t['r']!, t['w']!, 1e-6)[0]), [3, 8], rms(sum));
    expectClose(runOp({ x, r, w }, (t) => F.addRmsnorm(t['x']!, t['r']!, t['w']!, 1e-6)[1]), [3, 8], sum);
  });

  it('silu_mul, embedding, gather_rows', () => {
    const x = rand([2, 6]);
    const want = [0, 1].flatMap((r) => [0, 1, 2].map((j) => siluRef(x.data[r * 6 + j]!) * x.data[r * 6 + 3 + j]!));
    expectClose(runOp({ x }, (t) => F.siluMul(t['x']!)), [2, 3], want);
    const table = rand([5, 3]);
    const ids = i32([4], [4, 0, 4, 2]);
    const rows = [4, 0, 4, 2].flatMap((r) => Array.from(table.data.subarray(r * 3, r * 3 + 3)));
    expectClose(runOp({ ids, table }, (t) => F.embedding(t['ids']!, t['table']!)), [4, 3], rows);
    expectClose(runOp({ table, ids }, (t) => F.gatherRows(t['table']!, t['ids']!)), [4, 3], rows);
    expect(() => runOp({ ids: i32([1], [5]), table }, (t) => F.embedding(t['ids']!, t['table']!))).toThrow(/embedding: index 5 at position 0 is out of range \[0, 5\)/);
  });

  it('reshape, transpose, concat, slice, split', () => {
    const x = rand([2, 3, 4]);
    const at = (i: number, j: number, k: number) => x.data[(i * 3 + j) * 4 + k]!;
    expectClose(runOp({ x }, (t) => F.reshape(t['x']!, [6, -1])), [6, 4], x.data);
    const tw: number[] = [];
    for (let k = 0; k < 4; k++) for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) tw.push(at(i, j, k));
    expectClose(runOp({ x }, (t) => F.transpose(t['x']!, [2, 0, 1])), [4, 2, 3], tw);
    const y = rand([2, 1, 4]);
    const cw: number[] = [];
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) cw.push(at(i, j, k));
      cw.push(...y.data.subarray(i * 4, i * 4 + 4));
    }
    expectClose(runOp({ x, y }, (t) => F.concat([t['x']!, t['y']!], 1)), [2, 4, 4], cw);
    const sw: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 1; k < 3; k++) sw.push(at(i, j, k));
    expectClose(runOp({ x }, (t) => F.slice(t['x']!, -1, 1, 3)), [2, 3, 2], sw);
    const parts = [0, 1].map((p) => runOp({ x }, (t) => F.split(t['x']!, [1, 2], 1)[p]!));
    expectClose(parts[0]!, [2, 1, 4], [0, 1].flatMap((i) => [0, 1, 2, 3].map((k) => at(i, 0, k))));
    expectClose(parts[1]!, [2, 2, 4], [0, 1].flatMap((i) => [1, 2].flatMap((j) => [0, 1, 2, 3].map((k) => at(i, j, k)))));
  });

  it('cast rounds to the target format and truncates to int32', () => {
    const x = f32([4], [1.0001, -2.7, 65519, 1 / 3]);
    const h = runOp({ x }, (t) => F.cast(t['x']!, 'float16'));
    expect(Array.from(h.data)).toEqual(Array.from(x.data, (v) => f16BitsToF32(f32ToF16Bits(v))));
    expect(h.data[0]).toBe(1);
    const n = runOp({ x }, (t) => F.cast(t['x']!, 'int32'));
    expect(n.dtype).toBe('int32');
    expect(Array.from(n.data)).toEqual([1, -2, 65519, 0]);
    const back = runOp({ n: i32([2], [3, -4]) }, (t) => F.cast(t['n']!, 'float32'));
    expect(back.dtype).toBe('float32');
    expect(Array.from(back.data)).toEqual([3, -4]);
  });

  it('frees intermediates: peak activation bytes stay below the sum of all buffers', () => {
    const net = new Network();
    let h = net.addInput('x', [64, 64], 'float32');
    for (let i = 0; i < 10; i++) h = F.reshape(F.relu(h), i % 2 ? [64, 64] : [32, 128]); // reshape views share buffers
    net.markOutput('y', h);
    const ctx = contextOf(net);
    const x = rand([64, 64]);
    const y = ctx.run({ tensors: { x } })['y']!;
    expect(y.shape).toEqual([64, 64]);
    expect(maxAbsDiff(y.data, x.data.map((v) => Math.max(0, v)))).toBe(0);
    expect(ctx.memoryUsage().activations).toBe(2 * 64 * 64 * 4);
  });
});
