/**
 * Reads one device run's output folder for scripts/bench/write-performance.ts: the Kiln bench
 * reports (`<prefix>kiln-*.json`, `<prefix>quant-*.json`), the HF peer (`<prefix>hf-peers.json`,
 * `<prefix>hf-compile.json`), the card's ceilings, the run's own metadata (`<prefix>device.json`)
 * and the per-op profile (`<prefix>profile-ops.json`). Missing files are `undefined`, never invented.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchReport, BenchResult } from '../../src/bench/types.js';
import type { ScenarioProfile } from '../cuda/profile-ops-report.js';

export interface Ceilings { readonly copy_GBps: number; readonly bf16_gemm_8192_TFLOPs: number }

/** One HF scenario as hf_peers.py writes it (fields by scenario; `skipped`/`error`/`status` when it did not run). */
export interface HfScenario {
  readonly decode_tok_s?: number;
  readonly ttft_ms?: number;
  readonly output_tok_s?: number;
  readonly requests_measured?: number;
  readonly requests_asked?: number;
  readonly batch?: number;
  readonly seconds?: number;
  readonly skipped?: string;
  readonly error?: string;
  readonly status?: string;
  readonly compile_s?: number;
  readonly spent_s?: number;
  readonly budget_s?: number;
  readonly mode?: string;
  readonly strategy?: string;
}

export interface HfReport {
  readonly torch: string;
  readonly transformers: string;
  readonly device: string;
  readonly layers: number;
  readonly ceilings?: Ceilings;
  readonly results: Readonly<Record<string, HfScenario>>;
  readonly wall_s?: number;
}

export interface DeviceMeta {
  readonly card: string;
  readonly driver: string;
  readonly cuda: string;
  readonly mode: string;
  readonly started: string;
  readonly finished: string;
  readonly phases: readonly { readonly phase: string; readonly seconds?: number; readonly timeout_s?: number; readonly rc?: number; readonly skipped?: string }[];
}

export interface ProfileReport { readonly date: string; readonly iters: number; readonly scenarios: readonly ScenarioProfile[] }

export const KILN_SCENARIOS = ['latency-128', 'latency-2048', 'ttft-1024', 'throughput-128-128', 'throughput-2048-128', 'throughput-1000-1000', 'throughput-128-128-host-sampling', 'serve',
  'latency-128-decode-v1', 'latency-128-sync', 'latency-128-nospec', 'latency-128-no-gemv', 'throughput-128-128-decode-v1'] as const;
export type KilnScenario = (typeof KILN_SCENARIOS)[number];
export const QUANT_FORMATS = ['bf16', 'fp8', 'int8_wo', 'int4_wo', 'kv-fp8'] as const;
export type QuantName = (typeof QUANT_FORMATS)[number];

export interface RunData {
  readonly prefix: string;
  /** The issue-6 call's metadata (`<prefix>device-issue6.json`). */
  readonly device?: DeviceMeta;
  /** The quant call's metadata (`<prefix>device-quant.json`). */
  readonly quantDevice?: DeviceMeta;
  readonly hf?: HfReport;
  readonly hfCompile?: HfReport;
  readonly ceilings?: Ceilings;
  /** Ceilings of the quant call (its own `<prefix>ceilings.json`), else the HF run's. */
  readonly quantCeilings?: Ceilings;
  readonly kiln: Partial<Record<KilnScenario, BenchReport>>;
  readonly quantLatency: Partial<Record<QuantName, BenchReport>>;
  readonly fp8Throughput?: BenchReport;
  readonly profile?: ProfileReport;
  /** Files read, for the section's list of outputs. */
  readonly files: readonly string[];
}

export function loadRun(dir: string, prefix: string): RunData {
  const files: string[] = [];
  const read = <T>(name: string): T | undefined => {
    const path = join(dir, `${prefix}${name}`);
    if (!existsSync(path)) return undefined;
    files.push(`${prefix}${name}`);
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  };
  const hf = read<HfReport>('hf-peers.json');
  const own = read<{ ceilings?: Ceilings }>('ceilings.json');
  const kiln: Partial<Record<KilnScenario, BenchReport>> = {};
  for (const s of KILN_SCENARIOS) {
    const r = read<BenchReport>(`kiln-${s}.json`);
    if (r) kiln[s] = r;
  }
  const quantLatency: Partial<Record<QuantName, BenchReport>> = {};
  for (const q of QUANT_FORMATS) {
    const r = read<BenchReport>(`quant-${q}-latency.json`);
    if (r) quantLatency[q] = r;
  }
  // `run-on-device.sh all` runs both in one call and writes one metadata file for both.
  const both = read<DeviceMeta>('device-all.json');
  const device = read<DeviceMeta>('device-issue6.json') ?? read<DeviceMeta>('device.json') ?? both;
  const quantDevice = read<DeviceMeta>('device-quant.json') ?? both;
  const hfCompile = read<HfReport>('hf-compile.json');
  const fp8Throughput = read<BenchReport>('quant-fp8-throughput-128-128.json');
  const profile = read<ProfileReport>('profile-ops.json');
  const ceilings = hf?.ceilings;
  const quantCeilings = own?.ceilings ?? ceilings;
  return {
    prefix, kiln, quantLatency, files,
    ...(device ? { device } : {}), ...(quantDevice ? { quantDevice } : {}), ...(hf ? { hf } : {}), ...(hfCompile ? { hfCompile } : {}), ...(ceilings ? { ceilings } : {}),
    ...(quantCeilings ? { quantCeilings } : {}), ...(fp8Throughput ? { fp8Throughput } : {}), ...(profile ? { profile } : {}),
  };
}

/** The first result of a report (every offline report holds one). */
export function first(r: BenchReport | undefined): BenchResult | undefined {
  return r?.results[0];
}

/** `--kv_cache_bytes N` of a report's command, or undefined. */
export function kvBudget(r: BenchReport | undefined): number | undefined {
  const m = r?.command.match(/--kv_cache_bytes (\d+)/);
  return m ? Number(m[1]) : undefined;
}
