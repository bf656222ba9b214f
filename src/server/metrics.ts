/**
 * Prometheus metrics of one server (its own registry, so several servers in one process do
 * not collide). Counters and histograms are updated as requests run; the engine gauges are
 * refreshed from `client.stats()` when /metrics is scraped.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ExecutorStats, RequestDelta } from '../runtime/api.js';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'kiln_requests_total', help: 'HTTP requests answered, by endpoint (route) and status code',
    labelNames: ['endpoint', 'status'] as const, registers: [this.registry],
  });
  readonly promptTokens = new Counter({
    name: 'kiln_prompt_tokens_total', help: 'Prompt tokens of admitted generation requests', registers: [this.registry],
  });
  readonly generationTokens = new Counter({
    name: 'kiln_generation_tokens_total', help: 'Tokens generated (all samples)', registers: [this.registry],
  });
  readonly ttft = new Histogram({
    name: 'kiln_time_to_first_token_seconds', help: 'Submission to first generated token, per engine request',
    buckets: LATENCY_BUCKETS, registers: [this.registry],
  });
  readonly interTokenLatency = new Histogram({
    name: 'kiln_inter_token_latency_seconds', help: 'Time between consecutive token increments of one sample',
    buckets: LATENCY_BUCKETS, registers: [this.registry],
  });
  readonly e2eLatency = new Histogram({
    name: 'kiln_request_latency_seconds', help: 'Admission to last token, per HTTP generation request',
    buckets: LATENCY_BUCKETS, registers: [this.registry],
  });
  readonly admitted = new Gauge({
    name: 'kiln_admitted_requests', help: 'Engine requests admitted by the server and not yet finished', registers: [this.registry],
  });
  readonly queueLength = new Gauge({
    name: 'kiln_queue_length', help: 'Requests waiting in the engine scheduler', registers: [this.registry],
  });
  readonly running = new Gauge({
    name: 'kiln_running_requests', help: 'Requests running in the engine scheduler', registers: [this.registry],
  });
  readonly kvBlocksUsed = new Gauge({
    name: 'kiln_kv_blocks_used', help: 'KV cache blocks in use', registers: [this.registry],
  });
  readonly kvBlocksTotal = new Gauge({
    name: 'kiln_kv_blocks_total', help: 'KV cache blocks in the pool', registers: [this.registry],
  });
  readonly prefixHitRate = new Gauge({
    name: 'kiln_prefix_cache_hit_rate', help: 'Prefix cache hits / lookups over the engine life', registers: [this.registry],
  });
  readonly preemptions = new Gauge({
    name: 'kiln_preemptions', help: 'Requests preempted over the engine life', registers: [this.registry],
  });

  refreshEngine(stats: ExecutorStats): void {
    this.queueLength.set(stats.numWaiting);
    this.running.set(stats.numRunning);
    this.kvBlocksUsed.set(stats.kv.numUsed);
    this.kvBlocksTotal.set(stats.kv.numBlocks);
    this.prefixHitRate.set(stats.kv.prefixHitRate);
    this.preemptions.set(stats.numPreemptions);
  }

  /** Per engine request: observes TTFT and inter-token latency from its deltas. */
  trackRequest(submittedAt: number): (delta: RequestDelta) => void {
    let firstSeen = false;
    const lastAt = new Map<number, number>();
    return (delta) => {
      const now = performance.now();
      if (!firstSeen) {
        // The first output, even one without tokens (EOS at once), ends the time to first token.
        firstSeen = true;
        this.ttft.observe((now - submittedAt) / 1000);
      }
      if (delta.tokenIds.length === 0) return;
      this.generationTokens.inc(delta.tokenIds.length);
      const last = lastAt.get(delta.index);
      if (last !== undefined) this.interTokenLatency.observe((now - last) / 1000 / delta.tokenIds.length);
      lastAt.set(delta.index, now);
    };
  }
}
