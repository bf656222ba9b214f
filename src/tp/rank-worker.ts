/**
 * A tensor-parallel rank: a worker thread running its rank engine on its own CPU context (its
 * KV heads only) with a shared-memory communicator for the engine's collectives. It answers each
 * step on its reply port, then counts itself done in the control block. Exiting for any reason
 * marks it dead there and aborts the group, so neither the other ranks nor the driver wait on it.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { setThreadCommunicator } from '../backends/cpu/kernels/collective.js';
import { CpuContext } from '../backends/cpu/context.js';
import type { KvCacheSpec } from '../backends/types.js';
import { loadEngine } from '../engine/reader.js';
import type { GraphDef } from '../graph/types.js';
import type { RankReply, RankStatus, RankWorkerData, ToRank } from './protocol.js';
import { CTRL, SharedMemoryCommunicator, signalAbort } from './shared-memory.js';

const data = workerData as RankWorkerData;
const reply: MessagePort = data.reply;
const ctrl = new Int32Array(data.shared.ctrl);
const usage = new Float64Array(data.shared.usage);

process.on('exit', (code) => {
  Atomics.store(ctrl, CTRL.status + data.rank, code + 1);
  signalAbort(ctrl);
});

/** This rank's KV heads: what its attention nodes read (a slice, or one replicated head). */
function rankKvSpec(graph: GraphDef, spec: KvCacheSpec): KvCacheSpec {
  const node = graph.nodes.find((n) => n.op === 'attention');
  return node ? { ...spec, numKvHeads: node.attrs['numKvHeads'] as number } : spec;
}

function describe(err: unknown): { name: string; message: string } {
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
}

function start(): CpuContext | undefined {
  try {
    const engine = loadEngine(data.engineDir, { rank: data.rank, target: 'cpu' });
    setThreadCommunicator(new SharedMemoryCommunicator(data.shared, data.rank));
    return new CpuContext(engine, { kvCache: rankKvSpec(engine.graph, data.kvCache) });
  } catch (err) {
    parentPort!.postMessage({ type: 'load_error', rank: data.rank, ...describe(err) } satisfies RankStatus);
    return undefined;
  }
}

function recordUsage(context: CpuContext): void {
  const u = context.memoryUsage();
  usage.set([u.weights, u.kvCache, u.activations], data.rank * 3);
}

function runStep(context: CpuContext, seq: number, step: import('../backends/types.js').StepInputs): void {
  let message: RankReply;
  try {
    const outputs = context.run(step);
    message = data.rank === 0 ? { type: 'done', seq, outputs } : { type: 'done', seq };
  } catch (err) {
    message = { type: 'error', seq, ...describe(err) };
    signalAbort(ctrl);
  }
  recordUsage(context);
  reply.postMessage(message);
  Atomics.add(ctrl, CTRL.done, 1);
  Atomics.notify(ctrl, CTRL.done);
}

const context = start();
if (context) {
  recordUsage(context);
  parentPort!.on('message', (m: ToRank) => {
    if (m.type === 'crash') process.exit(m.code);
    else runStep(context, m.seq, m.step);
  });
  parentPort!.postMessage({ type: 'ready', rank: data.rank } satisfies RankStatus);
}
