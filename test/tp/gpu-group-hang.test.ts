/**
 * A rank that dies (or goes silent) while rank 0's step is in flight must not hang rank 0: its
 * stream may wait forever in an NCCL collective, so the group aborts rank 0's communicator once,
 * rejects the pending step at once naming the rank, fails every later call, and dispose() returns
 * without waiting on that stream. Fakes (fake-gpu-group.ts) stand in for the GPUs and NCCL.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BackendError } from '../../src/errors/index.js';
import { Executor } from '../../src/runtime/executor/executor.js';
import { onTensorParallelFailure, stepTimeoutMs, type GpuGroupContext } from '../../src/tp/gpu-group.js';
import { byteTokenizer } from '../runtime/fakes.js';
import { GREEDY, startFakeGpuGroup, step } from './fake-gpu-group.js';

const open: GpuGroupContext[] = [];
afterEach(() => { for (const g of open.splice(0)) g.dispose(); });

const settle = (ms = 50): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The promise's rejection, or a failure if it does not settle within `ms` (the hang this guards against). */
async function rejectionWithin(p: Promise<unknown>, ms: number): Promise<Error> {
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still pending after ${ms} ms: the step hung`)), ms));
  try {
    await Promise.race([p, timeout]);
  } catch (err) {
    return err as Error;
  }
  throw new Error('the step resolved');
}

async function start(opts: Parameters<typeof startFakeGpuGroup>[0]): Promise<Awaited<ReturnType<typeof startFakeGpuGroup>>> {
  const h = await startFakeGpuGroup(opts);
  open.push(h.group);
  return h;
}

describe('GPU tensor-parallel group: a rank lost mid-step', () => {
  it('a rank whose link drops while rank 0\'s step hangs in a collective: done() rejects naming it, abort once, dispose returns', async () => {
    const h = await start({ tpSize: 2, stuck: true });
    const reported: string[] = [];
    const unsubscribe = onTensorParallelFailure((why) => reported.push(why));
    const done = h.group.enqueueAndSample!(step(1), [GREEDY]).done();
    await settle();
    expect(h.aborts()).toBe(0);
    h.group.crashRank(1, 70);
    const err = await rejectionWithin(done, 2000);
    h.exitRank(1, 70); // the process exit that follows is the same failure: no second abort or report
    unsubscribe();
    expect(err).toBeInstanceOf(BackendError);
    expect(err.message).toMatch(/^tensor-parallel rank 1 lost its link to rank 0 \(link closed\): .*; the tensor-parallel group is down: restart the server$/);
    expect(h.aborts()).toBe(1);
    expect(reported).toEqual([h.group.error]);
    expect(() => h.group.enqueueAndSample!(step(2), [GREEDY])).toThrow(err.message);
    expect(() => h.group.run(step(2))).toThrow(err.message);
    expect(h.local.steps).toEqual([1]);
    h.group.dispose();
    expect(h.local.disposed).toBe(false); // its stream may never drain: left to process exit, not synchronized
  });

  it('a rank process that exits mid-step fails the pending step the same way', async () => {
    const h = await start({ tpSize: 3, stuck: true });
    const done = h.group.enqueueAndSample!(step(1), [GREEDY]).done();
    h.exitRank(2, null);
    const err = await rejectionWithin(done, 2000);
    expect(err.message).toBe('tensor-parallel rank 2 exited unexpectedly (code null); the tensor-parallel group is down: restart the server');
    expect(h.aborts()).toBe(1);
  });

  it('done() called only after the failure rejects at once without waiting on the local step', async () => {
    const h = await start({ tpSize: 2, stuck: true });
    const pending = h.group.enqueueAndSample!(step(1), [GREEDY]);
    h.exitRank(1, 9);
    const err = await rejectionWithin(pending.done(), 500);
    expect(err.message).toMatch(/^tensor-parallel rank 1 exited unexpectedly \(code 9\)/);
    expect(h.local.numWaits).toBe(0);
  });

  it('the executor\'s requests end with an error naming the rank instead of waiting forever', async () => {
    const h = await start({ tpSize: 2, stuck: true });
    const settings = { maxBatchSize: 4, maxNumTokens: 64, maxInputLen: 32, maxOutputLen: 8 };
    const executor = new Executor({ context: h.group, tokenizer: byteTokenizer, settings, kv: { numBlocks: 8, tokensPerBlock: 16 } });
    const deltas = (async () => {
      const seen: [string | undefined, string | undefined][] = [];
      for await (const d of executor.submit({ prompt: 'hi', params: { maxNewTokens: 4 } })) seen.push([d.finishReason, d.error]);
      return seen;
    })();
    await settle();
    expect(h.local.steps).toHaveLength(1); // the prefill is on the (hung) device
    h.group.crashRank(1);
    const seen = await Promise.race([deltas, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the request hung')), 2000))]);
    expect(seen).toEqual([['error', `${h.group.error!}; the tensor-parallel group is down: restart the server`]]);
  });

  it('a death between steps aborts too (no pending step: rank 0\'s context is disposed normally)', async () => {
    const h = await start({ tpSize: 2, stuck: false });
    expect((await h.group.enqueueAndSample!(step(1), [GREEDY]).done()).tokenIds).toEqual(Int32Array.of(42));
    h.group.crashRank(1);
    await settle();
    expect(h.group.error).toMatch(/^tensor-parallel rank 1 lost its link/);
    expect(h.aborts()).toBe(1);
    h.group.dispose();
    expect(h.local.disposed).toBe(true);
  });
});

describe('GPU tensor-parallel group: step watchdog', () => {
  it('a rank alive but silent (no done ack) past the step timeout fails the step naming only it', async () => {
    const h = await start({ tpSize: 3, stuck: true, silentRanks: [2], stepTimeoutMs: 200 });
    const t0 = performance.now();
    const err = await rejectionWithin(h.group.enqueueAndSample!(step(1), [GREEDY]).done(), 2000);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    expect(err.message).toBe('tensor-parallel rank(s) 2 did not finish step 1 within 200 ms (no done ack; KILN_TP_STEP_TIMEOUT_MS): the rank is hung or cut off; the tensor-parallel group is down: restart the server');
    expect(h.aborts()).toBe(1);
    h.group.dispose();
    expect(h.local.disposed).toBe(false);
  });

  it('every rank acked but rank 0\'s own step never finished: names rank 0', async () => {
    const h = await start({ tpSize: 2, stuck: true, stepTimeoutMs: 200 });
    const err = await rejectionWithin(h.group.enqueueAndSample!(step(1), [GREEDY]).done(), 2000);
    expect(err.message).toMatch(/^tensor-parallel rank 0 did not finish step 1 within 200 ms although every other rank did/);
  });

  it('steps that finish in time never trip it, however long the group then idles', async () => {
    const h = await start({ tpSize: 2, stuck: false, stepTimeoutMs: 100 });
    for (let i = 1; i <= 3; i++) await h.group.enqueueAndSample!(step(i), [GREEDY]).done();
    await settle(250);
    expect(h.group.error).toBeNull();
    expect(h.aborts()).toBe(0);
  });

  it('the timeout comes from the option, else KILN_TP_STEP_TIMEOUT_MS, else 60 s', () => {
    expect(stepTimeoutMs(250, { KILN_TP_STEP_TIMEOUT_MS: '9000' })).toBe(250);
    expect(stepTimeoutMs(undefined, { KILN_TP_STEP_TIMEOUT_MS: '9000' })).toBe(9000);
    expect(stepTimeoutMs(undefined, { KILN_TP_STEP_TIMEOUT_MS: 'soon' })).toBe(60_000);
    expect(stepTimeoutMs(undefined, {})).toBe(60_000);
  });
});
