/**
 * Compile-checks every kernel file with nvcc (no GPU, no NVRTC library needed): each file is
 * specialised exactly as NVRTC gets it (defines + common.cuh) for Llama-3-8B and a small shape,
 * written to a temp dir and compiled with `nvcc -arch=sm_90 -cubin`. Exit status 1 on any error.
 * Usage: `npx tsx scripts/cuda/nvcc-check.ts [file ...]` (default: every file in KERNEL_FILES).
 * Extra defines for every file: KILN_NVCC_DEFINES='ACT_F16=1,KV_FP8=1'.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KERNEL_FILES, definesFor, specialise, type KernelFile } from '../../src/backends/cuda/kernels/index.js';

const SHAPES = [
  { hiddenSize: 4096, intermediateSize: 14336, numHeads: 32, numKvHeads: 8, headDim: 128, tokensPerBlock: 16 },
  { hiddenSize: 256, intermediateSize: 688, numHeads: 8, numKvHeads: 2, headDim: 64, tokensPerBlock: 32 },
];
const extra = Object.fromEntries((process.env['KILN_NVCC_DEFINES'] ?? '').split(',').filter(Boolean).map((kv) => {
  const [k, v] = kv.split('=');
  return [k!, Number(v ?? 1)];
}));
const files = process.argv.length > 2 ? (process.argv.slice(2) as KernelFile[]) : (Object.keys(KERNEL_FILES) as KernelFile[]);
const dir = mkdtempSync(join(tmpdir(), 'kiln-nvcc-'));
let failed = 0;
try {
  for (const shapes of SHAPES) {
    const defs = definesFor(shapes) as Record<string, Record<string, number>>;
    for (const file of files) {
      const src = join(dir, `${file}.cu`);
      writeFileSync(src, specialise(file, { ...defs[file], ...extra }));
      try {
        execFileSync('nvcc', ['-arch=sm_90', '-cubin', '-std=c++17', '-o', join(dir, `${file}.cubin`), src], { stdio: 'pipe' });
        console.log(`ok   ${file} (hidden ${shapes.hiddenSize})`);
      } catch (e) {
        failed++;
        const err = e as { stderr?: Buffer };
        console.log(`FAIL ${file} (hidden ${shapes.hiddenSize})\n${err.stderr?.toString() ?? String(e)}`);
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
