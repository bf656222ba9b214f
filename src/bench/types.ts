/** Benchmark report data: what `kiln bench` writes as JSON and renders as markdown/SVG. */
import type { LoopDelaySummary } from './loop-delay.js';
import type { LatencySummary } from './stats.js';

export interface MemorySplit {
  readonly weights: number;
  readonly kvCache: number;
  readonly activations: number;
  readonly other: number;
}

export interface BenchResult {
  readonly mode: 'throughput' | 'latency' | 'serve';
  readonly label: string;
  readonly numRequests: number;
  readonly meanInputLen: number;
  readonly meanOutputLen: number;
  /** Streams kept in flight (serve mode), or null. */
  readonly concurrency: number | null;
  readonly durationS: number;
  readonly outputTokPerS: number;
  readonly totalTokPerS: number;
  readonly reqPerS: number;
  readonly ttftMs: LatencySummary;
  readonly itlMs: LatencySummary;
  /** Latency mode: prefill (= TTFT) and decode rate of a lone request. */
  readonly prefillMs?: number;
  readonly decodeTokPerS?: number;
  readonly memory: MemorySplit | null;
  /** Mean KV fragmentation over the run's steps (null when unknown, e.g. remote servers). */
  readonly fragmentation: number | null;
  readonly numPreemptions: number | null;
  /** Offline modes: the engine's number formats and declared weight bytes (absent for remote servers). */
  readonly format?: EngineFormat;
  /** Offline modes: the KV pool's capacity (absent for remote servers). */
  readonly kvPool?: KvPoolInfo;
  /** Offline modes: how late a 1 ms timer fired while the run went on (ms); absent for remote servers. */
  readonly eventLoopDelayMs?: LoopDelaySummary;
}

/** Number formats of the measured engine (`kiln build --quant …`, `--kv_cache_dtype …`). */
export interface EngineFormat {
  /** Weight format: the quant format (fp8, int8_wo, int4_wo) or the compute dtype when unquantized. */
  readonly weights: string;
  readonly activations: string;
  /** KV cache element type: fp8e4m3 or the compute dtype. */
  readonly kvCache: string;
  /** Scales, group size, AWQ, what stayed unquantized (for people). */
  readonly detail: string;
  readonly dummyWeights: boolean;
  /** Declared weight bytes per component (embeddings, attention, mlp, lm_head, other). */
  readonly weightBytesByComponent: Readonly<Record<string, number>>;
}

export interface KvPoolInfo {
  readonly numBlocks: number;
  readonly tokensPerBlock: number;
  /** Tokens the pool holds: numBlocks × tokensPerBlock. */
  readonly capacityTokens: number;
  /** The backend's KV pool bytes ÷ capacityTokens (null when the backend reports no pool bytes). */
  readonly bytesPerToken: number | null;
}

export interface BenchReport {
  readonly kiln: string;
  readonly date: string;
  readonly host: { readonly node: string; readonly platform: string; readonly cpus: number; readonly device: string };
  readonly command: string;
  readonly engine: string | null;
  readonly results: readonly BenchResult[];
}
