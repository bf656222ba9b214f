/**
 * Device check of GPU tensor parallelism on ONE GPU (issue 8): a tp=1 NCCL communicator (nranks 1,
 * so all-reduce and all-gather are identities) inside a fixture engine built with the collective
 * ops present (an all_reduce after every o_proj / down_proj, an all_gather of the logits), run
 * eagerly for prefill and from captured CUDA graphs for decode, against the plain engine: the
 * logits must be bit-identical (an identity collective changes no bit) and so must greedy tokens.
 * This proves the NCCL bindings, collectives captured in CUDA graphs and the plan wiring; the
 * multi-GPU half (tp=2/4) is run-on-device.sh's job when the machine has several GPUs.
 */
import { join } from 'node:path';
import { createNcclUniqueId, ncclVersion, NcclCommunicator } from '../../src/backends/cuda/collective.js';
import { CudaContext } from '../../src/backends/cuda/context.js';
import type { KvCacheSpec } from '../../src/backends/types.js';
import { buildFromCheckpoint } from '../../src/builder/build-command.js';
import { Builder } from '../../src/builder/builder.js';
import { convertCheckpoint, readKilnCheckpoint } from '../../src/checkpoint/index.js';
import { loadEngine } from '../../src/engine/reader.js';
import type { Engine } from '../../src/engine/types.js';
import type { GraphDef } from '../../src/graph/types.js';
import { createTpPlan, rankSlices } from '../../src/tp/plan.js';
import { defineRankGraph } from '../../src/tp/shard-graph.js';
import { argmax, makeStep, rows, runLogits, seqStates } from '../cuda/model-harness.js';

export interface TpRow { readonly check: string; readonly pass: boolean; readonly detail: string }

const TPB = 32;
const SETTINGS = { maxBatchSize: 4, maxInputLen: 64, maxOutputLen: 32, maxNumTokens: 128 };
const PROMPTS = [[1, 15, 27, 3, 9, 44, 2, 8], [1, 7, 7, 30, 12], [1, 50, 4]];

/** all_gather(tpSize 1) over the logits, made the output (what a vocabulary-split LM head adds). */
function withLogitsGather(g: GraphDef): GraphDef {
  const out = g.outputs[0]!;
  const t = g.tensors[out.tensor]!;
  const id = g.tensors.length;
  return {
    ...g,
    tensors: [...g.tensors, { id, shape: t.shape, dtype: t.dtype, kind: 'intermediate' }],
    nodes: [...g.nodes, { id: g.nodes.length, op: 'all_gather', inputs: [out.tensor], outputs: [id], attrs: { tpSize: 1 }, name: 'logits.all_gather' }],
    outputs: [{ name: out.name, tensor: id }],
  };
}

/** Greedy decode of every prompt (batched): the logits of each step, flattened, and the tokens. */
function greedy(ctx: CudaContext, vocab: number, numDecode: number): { logits: Float32Array[]; tokens: number[][] } {
  const seqs = seqStates(PROMPTS.length, 4);
  const logits: Float32Array[] = [];
  const tokens = PROMPTS.map(() => [] as number[]);
  const first = runLogits(ctx, makeStep(seqs, PROMPTS, TPB, false));
  logits.push(Float32Array.from(first)); // run() returns a view the next step overwrites
  let next = rows(first, vocab).map(argmax);
  for (let s = 0; s < numDecode; s++) {
    next.forEach((t, i) => tokens[i]!.push(t));
    const out = runLogits(ctx, makeStep(seqs, next.map((t) => [t]), TPB, false));
    logits.push(Float32Array.from(out));
    next = rows(out, vocab).map(argmax);
  }
  return { logits, tokens };
}

/** Builds fixture `name` plain and with collectives, runs both, compares. Never throws: failures are rows. */
export async function checkTp1Nccl(work: string, log: (l: string) => void, name = 'llama3-gqa'): Promise<TpRow[]> {
  try {
    const ckpt = join(work, `tp-ckpt-${name}`);
    await convertCheckpoint({ modelDir: join('test/fixtures/models', name), outputDir: ckpt, dtype: 'bfloat16' });
    const plainDir = join(work, `tp-plain-${name}`);
    await buildFromCheckpoint({ checkpointDir: ckpt, outputDir: plainDir, target: 'cuda', settings: SETTINGS, timingCache: join(work, 'tp-timing.json'), onLog: () => undefined });
    const plain = loadEngine(plainDir, { target: 'cuda' });
    const checkpoint = readKilnCheckpoint(ckpt);
    const model = checkpoint.model;
    const plan = createTpPlan(model, 1, 'replicate');
    const graph = withLogitsGather(defineRankGraph(model, plan, rankSlices(model, plan, 0)));
    // The CUDA target hook is registered by the plain build above.
    const tpEngine: Engine = new Builder().buildEngine(graph, { target: 'cuda', settings: SETTINGS, weights: checkpoint.weights, model });
    const ops = tpEngine.graph.nodes.filter((n) => n.op === 'all_reduce' || n.op === 'all_gather').length;
    const kv: KvCacheSpec = { numLayers: model.numLayers, numKvHeads: model.numKvHeads, headDim: model.headDim, numBlocks: 16, tokensPerBlock: TPB, dtype: 'bfloat16' };
    const id = createNcclUniqueId();
    log(`tp: NCCL ${ncclVersion()}, ${name} with ${ops} collective nodes (${model.numLayers} layers × 2 all_reduce + 1 all_gather)`);
    const ref = new CudaContext(plain, { kvCache: kv, progress: false });
    let a;
    try { a = greedy(ref, model.vocabSize, 12); } finally { ref.dispose(); }
    const tp = new CudaContext(tpEngine, { kvCache: kv, progress: false, createCommunicator: () => NcclCommunicator.create(id, 0, 1) });
    let b; let replays;
    try { b = greedy(tp, model.vocabSize, 12); replays = tp.numGraphReplays; } finally { tp.dispose(); }
    checkpoint.weights.dispose();
    let differing = 0;
    a.logits.forEach((l, i) => { const m = b.logits[i]!; for (let j = 0; j < l.length; j++) if (Object.is(l[j], m[j]) === false) differing++; });
    const sameTokens = JSON.stringify(a.tokens) === JSON.stringify(b.tokens);
    return [
      { check: `tp=1 NCCL ${name}: ${ops} collectives (nranks 1), logits bit-identical to the plain engine`, pass: differing === 0 && ops === 2 * model.numLayers + 1,
        detail: `${differing} differing logits over ${a.logits.length} steps; ${replays} decode steps replayed from CUDA graphs with NCCL captured` },
      { check: `tp=1 NCCL ${name}: greedy tokens equal the plain engine`, pass: sameTokens && (replays ?? 0) > 0, detail: `plain ${JSON.stringify(a.tokens)} / tp ${JSON.stringify(b.tokens)}` },
    ];
  } catch (e) {
    return [{ check: `tp=1 NCCL ${name}`, pass: false, detail: `threw: ${(e as Error).stack ?? String(e)}`.slice(0, 1500) }];
  }
}
