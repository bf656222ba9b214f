/**
 * The CUDA backend's device check: compiles every kernel with NVRTC, runs each against the CPU
 * backend's kernels on fresh random inputs (outputs poisoned with NaN first), times them with
 * events, tunes cuBLASLt GEMMs at Llama-3-8B shapes, captures and replays a CUDA graph, and writes
 * $OUT/cuda-report.json and $OUT/cuda-report.md (or <tmpdir>/kiln-cuda-report/ when OUT is unset).
 * Run on the GPU machine through scripts/cuda/run-on-device.sh.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BackendError } from '../../src/errors/index.js';
import { CudaDevice } from '../../src/backends/cuda/device.js';
import { CublasLtHandle } from '../../src/backends/cuda/gemm.js';
import { compileKernels, KernelSet } from '../../src/backends/cuda/kernel-set.js';
import { Arena, gbps, Rng, type CheckResult } from './harness.js';
import { checkEmbedding, checkRmsnorm, checkRopeKv, checkSiluMul, LLAMA3_SCALING, type Ctx } from './check-kernels.js';
import { checkArgmax, checkSampling } from './check-sampling.js';
import { checkPenaltiesLogprobs } from './check-runtime.js';
import { checkDecode, checkPrefill, timeDecode, timePrefill } from './check-attention.js';
import { checkCachedAlgo, checkGemmEpilogue, timeLlamaGemms, type GemmTiming } from './check-gemm.js';
import { checkGraph } from './check-graph.js';
import { quantChecks } from './check-quant.js';
import { gemvChecks } from './check-gemv.js';
import { renderMarkdown } from './report.js';
import { runDtypeChecks } from './check-dtypes.js';
import { decodeV3Checks, withDecodeKernel } from './check-decode-v3.js';

const SHAPES = { hiddenSize: 4096, intermediateSize: 14336, numHeads: 32, numKvHeads: 8, headDim: 128, tokensPerBlock: 16 };
const SMALL = { hiddenSize: 256, intermediateSize: 688, numHeads: 8, numKvHeads: 2, headDim: 64, tokensPerBlock: 32 };

let partialLog: string | undefined;

/** Runs one check; a thrown error becomes a failed result. Each result is also appended to partial.jsonl (a hang loses nothing before it). */
function attempt(name: string, fn: () => CheckResult): CheckResult {
  const t0 = performance.now();
  if (partialLog) appendFileSync(partialLog, `${JSON.stringify({ starting: name })}\n`);
  try {
    const r = fn();
    if (partialLog) appendFileSync(partialLog, `${JSON.stringify(r)}\n`);
    console.log(`${r.pass ? 'PASS' : 'FAIL'} ${r.name}${r.error !== undefined ? ` err=${r.error.toExponential(2)}` : ''}${r.ms !== undefined ? ` ${r.ms.toFixed(4)} ms` : ''}${r.gbps ? ` ${r.gbps.toFixed(0)} GB/s` : ''}${r.tflops ? ` ${r.tflops.toFixed(1)} TFLOP/s` : ''} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    return r;
  } catch (e) {
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    console.log(`FAIL ${name}: ${msg}`);
    return { name, pass: false, note: msg.slice(0, 2000) };
  }
}

const v1 = (r: CheckResult): CheckResult => ({ ...r, name: `[v1] ${r.name}` });
const v2 = (r: CheckResult): CheckResult => ({ ...r, name: `[v2] ${r.name}` });

function copyBandwidth(device: CudaDevice, arena: Arena): { bytes: number; ms: number; gbps: number } {
  const bytes = 1 << 30;
  const src = arena.alloc(bytes), dst = arena.alloc(bytes);
  src.fill(0x3c, arena.stream);
  const ms = arena.time(() => dst.copyFrom(src, bytes, arena.stream), 10);
  return { bytes, ms, gbps: gbps(2 * bytes, ms) };
}

function main(): void {
  const outDir = resolve(process.env.OUT ?? join(tmpdir(), 'kiln-cuda-report'));
  mkdirSync(outDir, { recursive: true });
  partialLog = join(outDir, 'partial.jsonl');
  const started = new Date().toISOString();
  const device = CudaDevice.open(0);
  const stream = device.createStream();
  const rng = new Rng();
  console.log(`device: ${device.info.name} ${device.info.arch}, ${device.info.numSms} SMs, driver ${device.info.driverVersion}, seed ${rng.seedHex}`);
  const arena = new Arena(device, stream);
  const copy = copyBandwidth(device, arena);
  arena.dispose();
  console.log(`device-to-device copy: ${copy.gbps.toFixed(0)} GB/s (read + write, 1 GiB, median of 10)`);
  const compiled = compileKernels(SHAPES, device.info.arch, process.env.KILN_KERNEL_DIR);
  const ks = KernelSet.load(device, SHAPES, compiled);
  const resources = ks.entries().map((e) => ({ kernel: e, ...ks.get(e as Parameters<typeof ks.get>[0]).resources() }));
  for (const c of compiled) console.log(`nvrtc ${c.file}.cu → ${c.cubin.length} B cubin in ${c.compileMs.toFixed(0)} ms${c.log ? ` (log: ${c.log})` : ''}`);
  const ctx: Ctx = { device, stream, ks, rng };
  const lt = new CublasLtHandle(device);
  const cachePath = join(outDir, 'gemm-timing-cache.json');
  const results: CheckResult[] = [
    attempt('embedding', () => checkEmbedding(ctx)),
    attempt('rmsnorm', () => checkRmsnorm(ctx, false)),
    attempt('add_rmsnorm', () => checkRmsnorm(ctx, true)),
    attempt('silu_mul', () => checkSiluMul(ctx)),
    attempt('rope default', () => checkRopeKv(ctx, { type: 'default' })),
    attempt('rope linear', () => checkRopeKv(ctx, { type: 'linear', factor: 4 })),
    attempt('rope llama3', () => checkRopeKv(ctx, LLAMA3_SCALING)),
    // Both decode kernels (ops.decodeKernel picks one by batch): correctness, then the Llama-3-8B bench's decode shapes.
    ...withDecodeKernel('v2', () => [
      attempt('attention_decode v2', () => v2(checkDecode(ctx))),
      attempt('attention_decode v2 timing', () => v2(timeDecode(ctx, 64, 4096))),
      attempt('attention_decode v2 timing', () => v2(timeDecode(ctx, 8, 32768))),
      attempt('attention_decode v2 timing', () => v2(timeDecode(ctx, 1, 128))),
      attempt('attention_decode v2 timing', () => v2(timeDecode(ctx, 1, 2048))),
      attempt('attention_decode v2 timing', () => v2(timeDecode(ctx, 256, 192))),
    ]),
    ...withDecodeKernel('v1', () => [
      attempt('attention_decode v1', () => v1(checkDecode(ctx))),
      attempt('attention_decode v1 timing', () => v1(timeDecode(ctx, 64, 4096))),
      attempt('attention_decode v1 timing', () => v1(timeDecode(ctx, 1, 128))),
      attempt('attention_decode v1 timing', () => v1(timeDecode(ctx, 1, 2048))),
      attempt('attention_decode v1 timing', () => v1(timeDecode(ctx, 256, 192))),
    ]),
    attempt('attention_prefill', () => checkPrefill(ctx)),
    attempt('attention_prefill timing', () => timePrefill(ctx, 1, 4096)),
    attempt('attention_prefill timing', () => timePrefill(ctx, 8, 1024)),
    attempt('argmax', () => checkArgmax(ctx)),
    attempt('sampling', () => checkSampling(ctx, 0.8, 50, 0.9)),
    attempt('sampling top_p only', () => checkSampling(ctx, 1.0, 0, 0.8)),
    attempt('sampling top_k only', () => checkSampling(ctx, 0.7, 20, 1)),
    attempt('sampling penalties + logprobs', () => checkPenaltiesLogprobs(ctx)),
    ...(['none', 'bias', 'gelu_bias', 'relu_bias'] as const).map((e) => attempt(`gemm ${e}`, () => checkGemmEpilogue(ctx, lt, e))),
  ];
  // The same kernels specialised for a small model (head_dim 64, GQA 4, 32 tokens per block): correctness only.
  const small = KernelSet.load(device, SMALL, compileKernels(SMALL, device.info.arch, process.env.KILN_KERNEL_DIR));
  const sctx: Ctx = { ...ctx, ks: small };
  const tag = (r: CheckResult): CheckResult => ({ ...r, name: `[small] ${r.name}`, ms: undefined, gbps: undefined, tflops: undefined });
  results.push(...[
    attempt('small add_rmsnorm', () => tag(checkRmsnorm(sctx, true))),
    attempt('small silu_mul', () => tag(checkSiluMul(sctx))),
    attempt('small rope llama3', () => tag(checkRopeKv(sctx, LLAMA3_SCALING))),
    attempt('small attention_decode', () => tag(checkDecode(sctx))),
    attempt('small attention_prefill', () => tag(checkPrefill(sctx))),
  ]);
  small.dispose();
  // fp16 activations (every kernel, GEMMs) and the fp8 KV cache (rope_write_kv → attention vs the CPU's fp8 path).
  results.push(...runDtypeChecks(ctx, lt, SHAPES, attempt));
  let gemm: { timings: GemmTiming[]; cacheHits: number; cacheEntries: number } | { error: string };
  try {
    gemm = timeLlamaGemms(ctx, lt, cachePath);
    for (const t of gemm.timings) console.log(`gemm ${t.label} M=${t.m} N=${t.n} K=${t.k}: heuristic ${t.heuristicMs.toFixed(4)} ms ${t.heuristicTflops.toFixed(1)} TFLOP/s; tuned #${t.bestIndex} ${t.bestMs.toFixed(4)} ms ${t.bestTflops.toFixed(1)} TFLOP/s`);
    results.push(attempt('gemm cached', () => checkCachedAlgo(ctx, lt, cachePath)));
  } catch (e) {
    gemm = { error: e instanceof Error ? e.message : String(e) };
    console.log(`FAIL gemm tuning: ${gemm.error}`);
  }
  results.push(...quantChecks(ctx, lt, copy.gbps).map(([name, fn]) => attempt(name, fn)));
  results.push(...gemvChecks(ctx, lt, copy.gbps).map(([name, fn]) => attempt(name, fn))); // the Kiln GEMV tactic: correctness, vs cuBLASLt, tuneAll → PlanRunner
  results.push(attempt('cuda graph', () => checkGraph(ctx)));
  // Decode attention v3 last (a kernel fault would end every check after it): correctness, timings beside the v1/v2 rows above.
  results.push(...decodeV3Checks(ctx, SMALL).map(([name, fn]) => attempt(name, fn)));
  const report = { started, finished: new Date().toISOString(), device: device.info, memory: device.memInfo(), cublasLtVersion: lt.version(), seed: rng.seedHex,
    shapes: SHAPES, copy, compile: compiled.map((c) => ({ file: c.file, arch: c.arch, bytes: c.cubin.length, ms: c.compileMs, log: c.log })), resources, results, gemm };
  writeFileSync(join(outDir, 'cuda-report.json'), JSON.stringify(report, null, 1));
  const md = renderMarkdown(report);
  writeFileSync(join(outDir, 'cuda-report.md'), md);
  lt.dispose(); ks.dispose(); stream.dispose(); device.dispose();
  console.log(`\n${md}`);
  const failed = results.filter((r) => !r.pass).length;
  console.log(failed === 0 ? 'ALL CHECKS PASSED' : `${failed} CHECK(S) FAILED`);
  process.exitCode = failed === 0 && !('error' in gemm) ? 0 : 1;
}

try {
  main();
} catch (e) {
  if (!(e instanceof BackendError)) throw e;
  console.error(e.message);
  process.exitCode = 2;
}
