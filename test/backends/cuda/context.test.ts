/**
 * The CUDA ExecutionContext on a fixture engine built with --target cuda, against the CPU backend.
 * Runs where there is an NVIDIA GPU; elsewhere it skips with one line, and checks instead that
 * `--target cuda` fails with the one-sentence BackendError. The full device check (HF references,
 * in-flight batching, Llama-3-8B shapes) is scripts/cuda/model-check.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CpuContext } from '../../../src/backends/cpu/index.js';
import { CudaContext, probeCuda } from '../../../src/backends/cuda/index.js';
import type { KvCacheSpec } from '../../../src/backends/types.js';
import { buildFromCheckpoint } from '../../../src/builder/build-command.js';
import { convertCheckpoint } from '../../../src/checkpoint/index.js';
import { loadEngine } from '../../../src/engine/reader.js';
import { BackendError } from '../../../src/errors/index.js';
import { makeStep, relL2, runLogits, seqStates } from '../../../scripts/cuda/model-harness.js';

let noGpu: string | null = null;
try { probeCuda(); } catch (e) { if (e instanceof BackendError) noGpu = e.message; else throw e; }
if (noGpu) console.log(`skipping CUDA context tests: ${noGpu}`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-cuda-ctx-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const settings = { maxInputLen: 64, maxOutputLen: 64, maxBatchSize: 4, maxNumTokens: 128 };

describe('kiln build --target cuda', () => {
  it.runIf(noGpu !== null)('without a GPU fails with the one-sentence BackendError', async () => {
    await expect(buildFromCheckpoint({ checkpointDir: 'test/fixtures/models/llama3-gqa', outputDir: path.join(tmp, 'e'), target: 'cuda', loadFormat: 'dummy', settings }))
      .rejects.toThrow(/^CUDA backend unavailable: .*; use --target cpu$/);
  });
});

describe.skipIf(noGpu !== null)('CudaContext', () => {
  it('matches the CPU backend on a fixture (prefill + decode, bf16 tolerance 5e-2)', async () => {
    const ckpt = path.join(tmp, 'ckpt');
    await convertCheckpoint({ modelDir: 'test/fixtures/models/llama3-gqa', outputDir: ckpt, dtype: 'bfloat16' });
    await buildFromCheckpoint({ checkpointDir: ckpt, outputDir: path.join(tmp, 'engine'), target: 'cuda', settings, timingCache: path.join(tmp, 'tc.json') });
    const engine = loadEngine(path.join(tmp, 'engine'), { target: 'cuda' });
    expect(engine.config.gpuArch).toMatch(/^sm_\d+$/);
    expect(engine.sections.list('cubin').length).toBeGreaterThan(0);
    const m = engine.config.model!;
    const spec: KvCacheSpec = { numLayers: m.numLayers, numKvHeads: m.numKvHeads, headDim: m.headDim, numBlocks: 8, tokensPerBlock: 32, dtype: 'bfloat16' };
    const gpu = new CudaContext(engine, { kvCache: spec, progress: false });
    const cpu = new CpuContext(engine, { kvCache: { ...spec, dtype: 'float32' } });
    try {
      const [sg, sc] = [seqStates(2, 4), seqStates(2, 4)];
      const prompts = [[5, 9, 200, 31, 7], [100, 3]];
      expect(relL2(runLogits(gpu, makeStep(sg, prompts, 32, true)), runLogits(cpu, makeStep(sc, prompts, 32, true)))).toBeLessThan(5e-2);
      for (let j = 0; j < 3; j++) {
        const toks = [[10 + j], [20 + j]];
        expect(relL2(runLogits(gpu, makeStep(sg, toks, 32, false)), runLogits(cpu, makeStep(sc, toks, 32, false)))).toBeLessThan(5e-2);
      }
      expect(gpu.numGraphReplays).toBe(2); // decode steps 2 and 3 replay the graph captured at step 1
      const mem = gpu.memoryUsage();
      expect(mem.kvCache).toBe(2 * 2 * 8 * 32 * 2 * 16 * 2);
    } finally {
      gpu.dispose();
      cpu.dispose();
    }
  });
});
