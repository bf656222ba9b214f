/**
 * Measures the CPU backend's GEMM, [T, K] · [N, K]ᵀ, in GFLOP/s (2·T·K·N flops per call).
 * Usage: npx tsx scripts/cpu/bench-matmul.ts [T K N ...]   (default: 64 1024 1024, then 1 1024 1024)
 */
import { matmulTransB } from '../../src/backends/cpu/kernels/matmul.js';

function bench(t: number, k: number, n: number): void {
  const a = Float32Array.from({ length: t * k }, (_, i) => Math.sin(i));
  const w = Float32Array.from({ length: n * k }, (_, i) => Math.cos(i));
  const out = new Float32Array(t * n);
  const flops = 2 * t * k * n;
  const reps = Math.max(1, Math.round(2e8 / flops));
  for (let i = 0; i < 2 * reps; i++) matmulTransB(a, w, out, t, k, n);
  const runs: number[] = [];
  for (let r = 0; r < 7; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) matmulTransB(a, w, out, t, k, n);
    runs.push((flops * reps) / (Number(process.hrtime.bigint() - start) / 1e9) / 1e9);
  }
  runs.sort((x, y) => x - y);
  console.log(`matmul [${t},${k}]x[${n},${k}]^T: median ${runs[3]!.toFixed(2)} GFLOP/s (best ${runs[6]!.toFixed(2)}, ${reps} calls per sample)`);
}

const args = process.argv.slice(2).map(Number);
const shapes = args.length >= 3 ? args : [64, 1024, 1024, 1, 1024, 1024];
for (let i = 0; i + 3 <= shapes.length; i += 3) bench(shapes[i]!, shapes[i + 1]!, shapes[i + 2]!);
