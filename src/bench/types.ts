/** Benchmark report data: what `kiln bench` writes as JSON and renders as markdown/SVG. */
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
}

export interface BenchReport {
  readonly kiln: string;
  readonly date: string;
  readonly host: { readonly node: string; readonly platform: string; readonly cpus: number; readonly device: string };
  readonly command: string;
  readonly engine: string | null;
  readonly results: readonly BenchResult[];
}
