/**
 * Only the quantized-GEMM device checks (check-quant.ts), for iterating on those kernels without the
 * full check.ts run: `esbuild scripts/cuda/check-quant-only.ts --bundle … → .device/cuda/quant.mjs`.
 */
import { CudaDevice } from '../../src/backends/cuda/device.js';
import { CublasLtHandle } from '../../src/backends/cuda/gemm.js';
import { compileKernels, KernelSet } from '../../src/backends/cuda/kernel-set.js';
import { Arena, gbps, Rng } from './harness.js';
import { quantChecks } from './check-quant.js';

const SHAPES = { hiddenSize: 4096, intermediateSize: 14336, numHeads: 32, numKvHeads: 8, headDim: 128, tokensPerBlock: 16 };
const device = CudaDevice.open(0);
const stream = device.createStream();
const rng = new Rng();
const arena = new Arena(device, stream);
const bytes = 1 << 30;
const src = arena.alloc(bytes), dst = arena.alloc(bytes);
src.fill(0x3c, stream);
const copyGbps = gbps(2 * bytes, arena.time(() => dst.copyFrom(src, bytes, stream), 10));
arena.dispose();
console.log(`${device.info.name}: copy ${copyGbps.toFixed(0)} GB/s, seed ${rng.seedHex}`);
const ks = KernelSet.load(device, SHAPES, compileKernels(SHAPES, device.info.arch, process.env['KILN_KERNEL_DIR']));
const lt = new CublasLtHandle(device);
let failed = 0;
for (const [name, fn] of quantChecks({ device, stream, ks, rng }, lt, copyGbps)) {
  try {
    const r = fn();
    if (!r.pass) failed++;
    console.log(`${r.pass ? 'PASS' : 'FAIL'} ${r.name}${r.error !== undefined ? ` err=${r.error.toExponential(2)}` : ''}${r.ms !== undefined ? ` ${r.ms.toFixed(4)} ms` : ''}${r.gbps ? ` ${r.gbps.toFixed(0)} GB/s` : ''}${r.tflops ? ` ${r.tflops.toFixed(1)} TFLOP/s` : ''}${r.note ? ` (${r.note})` : ''}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  }
}
lt.dispose(); ks.dispose(); stream.dispose(); device.dispose();
console.log(failed ? `${failed} FAILED` : 'ALL PASSED');
process.exitCode = failed ? 1 : 0;
