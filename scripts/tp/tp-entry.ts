/**
 * The bundled device entry of issue 8 (scripts/tp/run-on-device.sh): also the rank entry the
 * launcher forks (KILN_TP_RANK_ENTRY points here), so it first checks whether it is a rank.
 *   node tp-entry.mjs tp1 WORK          tp=1 NCCL check on one GPU (check-tp.ts)
 *   node tp-entry.mjs refuse WORK       one GPU: tp=2 CUDA build (shard kernel shapes) and the "needs 2 GPUs" refusal
 *   node tp-entry.mjs tokens N WORK     fixture engines at tp=1 and tp=N through LLM: same greedy tokens
 *   node tp-entry.mjs busbw N           NCCL all-reduce of 256 MB over N GPUs (N forked ranks): bus bandwidth
 *   node tp-entry.mjs abort N           a rank dies before a collective: rank 0's ncclCommAbort returns and its stream drains
 * Prints one JSON line per result (prefix RESULT).
 */
import { fork } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNcclUniqueId, NcclCommunicator } from '../../src/backends/cuda/collective.js';
import { CudaDevice } from '../../src/backends/cuda/device.js';
import { tryReadKernels } from '../../src/backends/cuda/engine-sections.js';
import { convertCheckpoint } from '../../src/checkpoint/index.js';
import { loadEngine } from '../../src/engine/reader.js';
import { LLM } from '../../src/runtime/llm.js';
import { buildTensorParallelFromCheckpoint } from '../../src/tp/build.js';
import { tryRunAsForkedRank } from '../../src/tp/gpu-launch.js';
import { checkTp1Nccl } from './check-tp.js';

const print = (r: object): void => { process.stdout.write(`RESULT ${JSON.stringify(r)}\n`); };
const SETTINGS = { maxBatchSize: 4, maxInputLen: 64, maxOutputLen: 32, maxNumTokens: 128 };
const PROMPTS = [[1, 15, 27, 3, 9, 44, 2, 8], [1, 7, 7, 30, 12], [1, 50, 4]];

async function tokensAt(tpSize: number, ckpt: string, work: string): Promise<number[][]> {
  const dir = join(work, `fixture-tp${tpSize}`);
  await buildTensorParallelFromCheckpoint({ checkpointDir: ckpt, outputDir: dir, target: 'cuda', tpSize, settings: SETTINGS, timingCache: join(work, 'tc.json') });
  const llm = new LLM({ engineDir: dir, backend: 'cuda', kvCacheBytes: 64 << 20 });
  try {
    const results = await llm.generate(PROMPTS.map((p) => ({ promptTokenIds: p, params: { maxNewTokens: 16, temperature: 0, ignoreEos: true } })));
    return results.map((r) => [...r.outputs[0]!.tokenIds]);
  } finally {
    llm.dispose();
  }
}

/** llama3-gqa with the unseen-llama tokenizer (LLM loads one), converted to a bf16 Kiln checkpoint. */
async function fixtureCheckpoint(work: string): Promise<string> {
  const hf = join(work, 'fixture-hf');
  mkdirSync(hf, { recursive: true });
  for (const f of ['config.json', 'generation_config.json', 'model.safetensors']) copyFileSync(join('test/fixtures/models/llama3-gqa', f), join(hf, f));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join('test/fixtures/models/unseen-llama', f), join(hf, f));
  const ckpt = join(work, 'fixture-ckpt');
  await convertCheckpoint({ modelDir: hf, outputDir: ckpt, dtype: 'bfloat16' });
  return ckpt;
}

/** One GPU: `kiln build --target cuda --tp_size 2` writes rank engines with shard-shaped kernels, and loading them says it needs 2 GPUs. */
async function refuse(work: string): Promise<void> {
  const ckpt = await fixtureCheckpoint(work);
  const dir = join(work, 'fixture-tp2-1gpu');
  await buildTensorParallelFromCheckpoint({ checkpointDir: ckpt, outputDir: dir, target: 'cuda', tpSize: 2, settings: SETTINGS, timingCache: join(work, 'tc.json') });
  const shapes = [0, 1].map((rank) => tryReadKernels(loadEngine(dir, { rank, target: 'cuda' }).sections)?.shapes);
  const shardShapes = shapes.every((s) => s?.numHeads === 2 && s.numKvHeads === 1 && s.intermediateSize === 80);
  const llm = new LLM({ engineDir: dir, backend: 'cuda', kvCacheBytes: 64 << 20 });
  let message = '';
  try {
    await llm.generate([{ promptTokenIds: [1, 2, 3], params: { maxNewTokens: 2 } }]);
  } catch (e) {
    message = (e as Error).message;
  } finally {
    llm.dispose();
  }
  print({ check: 'tp=2 CUDA build on 1 GPU: rank engines with shard-shaped kernels; loading refuses with the GPU count', pass: shardShapes && /only 1 GPU\(s\) are visible/.test(message), shapes, message });
}

async function tokens(n: number, work: string): Promise<void> {
  const ckpt = await fixtureCheckpoint(work);
  const one = await tokensAt(1, ckpt, work);
  const many = await tokensAt(n, ckpt, work);
  print({ check: `tp=${n} vs tp=1 greedy tokens (llama3-gqa)`, pass: JSON.stringify(one) === JSON.stringify(many), tp1: one, [`tp${n}`]: many });
}

/** One rank of the bandwidth test: 256 MB bf16 all-reduce, 5 warm-up + 20 timed on its GPU. */
function busbwRank(rank: number, n: number, idHex: string): void {
  const device = CudaDevice.open(rank);
  const stream = device.createStream();
  const bytes = 256 << 20;
  const buf = device.alloc(bytes);
  buf.fill(0, stream);
  const comm = NcclCommunicator.create(Uint8Array.from(Buffer.from(idHex, 'hex')), rank, n);
  const count = bytes / 2;
  for (let i = 0; i < 5; i++) comm.allReduceSum(buf.ptr, count, 'bfloat16', stream);
  stream.synchronize();
  const t0 = performance.now();
  const iters = 20;
  for (let i = 0; i < iters; i++) comm.allReduceSum(buf.ptr, count, 'bfloat16', stream);
  stream.synchronize();
  const s = (performance.now() - t0) / 1000 / iters;
  const algbw = bytes / s / 1e9;
  if (rank === 0) print({ check: `nccl all-reduce 256 MB bf16 over ${n} GPUs`, pass: true, ms: s * 1000, algbwGBs: algbw, busbwGBs: (algbw * 2 * (n - 1)) / n });
  comm.dispose();
  buf.dispose();
  stream.dispose();
  device.dispose();
}

async function busbw(n: number): Promise<void> {
  const id = Buffer.from(createNcclUniqueId()).toString('hex');
  const self = fileURLToPath(import.meta.url);
  const codes = await Promise.all(Array.from({ length: n }, (_, rank) => new Promise<number | null>((resolve) => {
    fork(self, ['busbw-rank', String(rank), String(n), id], { stdio: 'inherit' }).on('exit', resolve);
  })));
  if (codes.some((c) => c !== 0)) print({ check: `nccl all-reduce over ${n} GPUs`, pass: false, exitCodes: codes });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * One rank of the abort drill (the premise of GpuGroupContext's failure path): all ranks finish one
 * all-reduce, then ranks ≥ 1 exit without joining the next; rank 0 enqueues it, sees its event
 * still pending after 2 s (the hang), calls ncclCommAbort, and must see the abort return and the
 * stream drain (or fail loudly with a CUDA error) within 10 s. It exits without disposing: a stuck
 * stream would block the teardown, which is what GpuGroupContext.dispose skips after an abort.
 */
async function abortRank(rank: number, n: number, idHex: string): Promise<void> {
  const device = CudaDevice.open(rank);
  const stream = device.createStream();
  const buf = device.alloc(1 << 20);
  buf.fill(0, stream);
  const comm = NcclCommunicator.create(Uint8Array.from(Buffer.from(idHex, 'hex')), rank, n);
  comm.allReduceSum(buf.ptr, (1 << 20) / 4, 'float32', stream);
  stream.synchronize();
  if (rank !== 0) {
    await sleep(500); // rank 0 has finished the warm-up all-reduce too
    process.exit(0); // dies between steps, as a crashed rank process would
  }
  comm.allReduceSum(buf.ptr, (1 << 20) / 4, 'float32', stream);
  const event = device.createEvent(false);
  event.record(stream);
  await sleep(2000);
  const query = (): boolean | string => { try { return event.query(); } catch (e) { return (e as Error).message; } };
  const before = query();
  let asyncError: number | string;
  try { asyncError = comm.asyncError(); } catch (e) { asyncError = (e as Error).message; }
  const t0 = performance.now();
  const status = comm.abort();
  const abortMs = performance.now() - t0;
  let after = query();
  while (after === false && performance.now() - t0 < 10_000) { await sleep(10); after = query(); }
  const drainMs = performance.now() - t0;
  print({ check: `ncclCommAbort frees rank 0 of ${n} from a collective a dead rank never joined`, pass: status === 0 && after !== false, hungBeforeAbort: before === false, asyncErrorBeforeAbort: asyncError, abortStatus: status, abortMs, streamAfterAbort: after === true ? 'drained' : after === false ? 'still waiting after 10 s' : `CUDA error: ${after}`, drainMs });
  process.exit(0);
}

async function abortDrill(n: number): Promise<void> {
  const id = Buffer.from(createNcclUniqueId()).toString('hex');
  const self = fileURLToPath(import.meta.url);
  const children = Array.from({ length: n }, (_, rank) => fork(self, ['abort-rank', String(rank), String(n), id], { stdio: 'inherit' }));
  const timer = setTimeout(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); }, 40_000);
  const codes = await Promise.all(children.map((c) => new Promise<number | null>((resolve) => c.on('exit', resolve))));
  clearTimeout(timer);
  if (codes[0] !== 0) print({ check: `ncclCommAbort drill over ${n} GPUs`, pass: false, exitCodes: codes, why: 'rank 0 did not finish within 40 s (abort or the stream hung) or crashed' });
}

async function main(): Promise<void> {
  if (await tryRunAsForkedRank()) return;
  const [mode, a, b] = process.argv.slice(2);
  const work = '/tmp/kiln-tp';
  if (mode === 'tp1') for (const r of await checkTp1Nccl(a ?? work, (l) => console.log(l))) print(r);
  else if (mode === 'refuse') await refuse(a ?? work);
  else if (mode === 'tokens') await tokens(Number(a), b ?? work);
  else if (mode === 'busbw') await busbw(Number(a));
  else if (mode === 'busbw-rank') busbwRank(Number(a), Number(b), process.argv[5]!);
  else if (mode === 'abort') await abortDrill(Number(a));
  else if (mode === 'abort-rank') await abortRank(Number(a), Number(b), process.argv[5]!);
  else throw new Error(`unknown mode ${mode}: tp1 | tokens N | busbw N | abort N`);
}

main().then(() => process.exit(0), (e: unknown) => { console.error(e); process.exit(1); });
