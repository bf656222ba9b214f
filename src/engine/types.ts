/**
 * An engine in memory: what `kiln build` writes and backends load. The on-disk form is a
 * directory with `config.json` and `rank0.engine` (see `engine/format.ts`).
 */
import type { HostTensor } from '../backends/types.js';
import type { GraphDef } from '../graph/types.js';
import type { ModelConfig } from '../models/config.js';

export type Target = 'cpu' | 'cuda';

/** The trtllm-build style limits an engine is built for. */
export interface BuildSettings {
  readonly maxBatchSize: number;
  readonly maxInputLen: number;
  readonly maxOutputLen: number;
  /** Token budget of one step (prefill chunks + decodes). */
  readonly maxNumTokens: number;
  /** Activation/weight dtype the engine computes in. */
  readonly dtype: 'float32' | 'float16' | 'bfloat16';
}

/** Activation memory planned by liveness at `maxNumTokens` tokens. */
export interface MemoryPlan {
  /** Peak bytes of live activations. */
  readonly peakBytes: number;
  /** Bytes if every intermediate had its own buffer (for the log). */
  readonly naiveBytes: number;
  /** Arena offset in bytes, per intermediate tensor id (as a string key). */
  readonly offsets: Readonly<Record<string, number>>;
}

export interface EngineConfig {
  readonly formatVersion: number;
  readonly target: Target;
  /** GPU architecture the engine was built for, e.g. `sm_90`; null for CPU engines. */
  readonly gpuArch: string | null;
  readonly build: BuildSettings;
  /** Present for LLM engines (built from a model). */
  readonly model: ModelConfig | null;
  readonly plan: MemoryPlan;
  /** What each builder pass changed, for people. */
  readonly passLog: readonly string[];
  readonly tpSize: number;
  /** Quantization the engine was built with (absent: none); layouts in quant/types.ts. */
  readonly quant?: import('../quant/types.js').QuantSummary;
  /**
   * Built with `--load_format dummy`: the engine stores no weight sections and backends fill every
   * weight with seeded random values at load (normal, std 0.02; norm weights 1). Absent otherwise.
   */
  readonly dummyWeights?: { readonly seed: number };
}

/** Named weights, as stored (dtype may be float16/bfloat16/...). */
export interface WeightStore {
  names(): readonly string[];
  get(name: string): HostTensor;
  has(name: string): boolean;
}

/** A named blob of an engine that is not a weight (e.g. 'cubin', 'tactics' from a target builder). */
export interface EngineSection {
  readonly name: string;
  readonly kind: string;
  /** The section's bytes; for loaded engines a view of the file's one buffer (no copy). */
  readonly data: Uint8Array;
}

/** Non-weight sections of an engine, by name. Added by target builders, written by `saveEngine`. */
export interface EngineSections {
  /** Every non-weight section, or only those of `kind`. */
  list(kind?: string): readonly EngineSection[];
  /** The section named `name`, or undefined. */
  tryGet(name: string): EngineSection | undefined;
}

export interface Engine {
  readonly config: EngineConfig;
  readonly graph: GraphDef;
  readonly weights: WeightStore;
  /** Non-weight sections (added; absent means none). */
  readonly sections?: EngineSections;
}
