/**
 * What a benchmark report says about the engine it measured: the number formats (weights,
 * activations, KV cache), declared weight bytes per component, and the KV pool's capacity in
 * tokens with the bytes one token really takes there (measured pool bytes ÷ pool tokens).
 */
import type { EngineConfig } from '../engine/types.js';
import type { GraphDef } from '../graph/types.js';
import { weightBytesByComponent } from '../quant/report.js';
import type { EngineFormat, KvPoolInfo, MemorySplit } from './types.js';

/** The parts of a loaded engine the report reads (the `LLM`'s `engine` has them). */
export interface EngineLike {
  readonly config: EngineConfig;
  readonly graph: GraphDef;
}

/** The KV cache element type the engine's attention nodes declare (`kvCacheDtype`), else the compute dtype. */
export function kvCacheDtypeOf(engine: EngineLike): string {
  const fp8 = engine.graph.nodes.some((n) => n.op === 'attention' && n.attrs['kvCacheDtype'] === 'fp8e4m3');
  return fp8 || engine.config.quant?.kvCacheDtype === 'fp8e4m3' ? 'fp8e4m3' : engine.config.build.dtype;
}

export function engineFormat(engine: EngineLike): EngineFormat {
  const q = engine.config.quant;
  const weights = q?.format ?? engine.config.build.dtype;
  const detail = [
    q?.groupSize !== undefined && q.format !== 'fp8' && q.format !== null ? `group ${q.groupSize}` : null,
    q?.format === 'fp8' ? `${q.fp8WeightScale ?? 'tensor'} weight scales, ${q.fp8Activation ?? 'static'} activation scales` : null,
    q?.awq ? 'AWQ' : null,
    q?.format && q.excluded.length > 0 ? `unquantized: ${q.excluded.join(', ')}` : null,
  ].filter((x): x is string => x !== null);
  return {
    weights, activations: engine.config.build.dtype, kvCache: kvCacheDtypeOf(engine),
    detail: detail.join('; '), dummyWeights: engine.config.dummyWeights !== undefined,
    weightBytesByComponent: weightBytesByComponent(engine.graph),
  };
}

/** Pool capacity from the executor's KV stats; bytes per token from the backend's pool bytes. */
export function kvPoolInfo(kv: { numBlocks: number; tokensPerBlock: number }, memory: MemorySplit | null): KvPoolInfo {
  const capacityTokens = kv.numBlocks * kv.tokensPerBlock;
  return {
    numBlocks: kv.numBlocks, tokensPerBlock: kv.tokensPerBlock, capacityTokens,
    bytesPerToken: memory && capacityTokens > 0 ? memory.kvCache / capacityTokens : null,
  };
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** One line for people: formats, weight bytes by component, KV pool capacity. */
export function describeEngine(format: EngineFormat, pool: KvPoolInfo | undefined): string {
  const parts = Object.entries(format.weightBytesByComponent).filter(([, b]) => b > 0).map(([c, b]) => `${c} ${mib(b)}`);
  const total = Object.values(format.weightBytesByComponent).reduce((a, b) => a + b, 0);
  const kv = pool
    ? `; KV pool ${pool.numBlocks} blocks × ${pool.tokensPerBlock} = ${pool.capacityTokens} tokens` +
      (pool.bytesPerToken === null ? '' : ` (${pool.bytesPerToken.toFixed(0)} B per token)`)
    : '';
  return `Engine: weights ${format.weights}${format.detail ? ` (${format.detail})` : ''}, activations ${format.activations}, ` +
    `KV cache ${format.kvCache}${format.dummyWeights ? ', dummy weights' : ''}; declared weight bytes ${mib(total)} (${parts.join(', ')})${kv}`;
}
