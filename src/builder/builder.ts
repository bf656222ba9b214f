/**
 * The ahead-of-time builder: network → passes → memory plan → Engine (in memory). The engine is
 * plain data; `saveEngine` (engine/writer.ts) writes it, backends load it.
 */
import { Network } from '../graph/network.js';
import { validateGraph } from '../graph/validate.js';
import type { GraphDef } from '../graph/types.js';
import type { BuildSettings, Engine, Target, WeightStore } from '../engine/types.js';
import { ENGINE_FORMAT_VERSION } from '../engine/format.js';
import type { ModelConfig } from '../models/config.js';
import { ConfigError } from '../errors/index.js';
import type { QuantSummary } from '../quant/types.js';
import { formatPlanLog, planBindings, planMemory } from './memory-plan.js';
import { DEFAULT_PASSES, type NamedPass } from './passes/index.js';
import { resolveBuildSettings } from './settings.js';
import { applyTargetBuilder } from './targets.js';
import { emptyWeightStore } from './weights.js';

export interface BuildEngineOptions {
  readonly target: Target;
  readonly settings?: Partial<BuildSettings>;
  /** Values of the network's weights (by name); required for every weight the graph reads. */
  readonly weights?: WeightStore;
  /** The LLM's config, stored in the engine (null for plain networks). */
  readonly model?: ModelConfig;
  /** Receives what each pass changed and the memory plan, one line at a time. */
  readonly onLog?: (line: string) => void;
  /** The passes to run (default: DEFAULT_PASSES); tests use this to isolate one. */
  readonly passes?: readonly NamedPass[];
  /** What quantization the passes apply (recorded in EngineConfig.quant). */
  readonly quant?: QuantSummary;
  /**
   * Largest size of each symbolic dim the network declares beyond num_tokens/num_logits (like the
   * max of a TensorRT optimization profile); memory is planned at these sizes. Default 1 per symbol.
   */
  readonly maxDims?: Readonly<Record<string, number>>;
}

export class Builder {
  /** A fresh network; it becomes the active one for seed-style `new Tensor({...})`. */
  createNetwork(): Network {
    return new Network();
  }

  /** Runs the passes and the memory plan; returns the engine in memory. */
  buildEngine(network: Network | GraphDef, options: BuildEngineOptions): Engine {
    const log = (line: string): void => {
      passLog.push(line);
      options.onLog?.(line);
    };
    const passLog: string[] = [];
    let graph = network instanceof Network ? network.toGraph() : structuredClone(network);
    if (graph.outputs.length === 0) throw new ConfigError('the network has no outputs; call network.markOutput(name, tensor) before building');
    const settings = resolveBuildSettings(options.settings, graph, options.model);
    let weights = options.weights ?? emptyWeightStore();
    checkWeightsPresent(graph, weights);
    for (const pass of options.passes ?? DEFAULT_PASSES) {
      const result = pass.run(graph, weights);
      graph = result.graph;
      weights = result.weights;
      for (const line of result.log) log(line);
    }
    validateGraph(graph);
    const plan = planMemory(graph, { ...defaultDims(graph), ...options.maxDims, ...planBindings(settings) });
    log(formatPlanLog(plan));
    const engine: Engine = {
      config: {
        formatVersion: ENGINE_FORMAT_VERSION, target: options.target, gpuArch: null, build: settings,
        model: options.model ?? null, plan, passLog, tpSize: 1, ...(options.quant ? { quant: options.quant } : {}),
      },
      graph,
      weights,
    };
    return applyTargetBuilder(engine, { settings, log });
  }
}

/** Binds every symbol other than the LLM ones to 1, so plain networks plan without a profile. */
function defaultDims(graph: GraphDef): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const t of graph.tensors) for (const d of t.shape) if (typeof d === 'string') dims[d] = 1;
  return dims;
}

function checkWeightsPresent(graph: GraphDef, weights: WeightStore): void {
  const missing = graph.tensors.filter((t) => t.kind === 'weight' && (t.name === undefined || !weights.has(t.name)));
  if (missing.length === 0) return;
  const names = missing.slice(0, 5).map((t) => `'${t.name ?? `#${t.id}`}'`).join(', ');
  const more = missing.length > 5 ? ` and ${missing.length - 5} more` : '';
  throw new ConfigError(`the network reads weight(s) ${names}${more} that the weights given to buildEngine do not have; pass a WeightStore holding them`);
}
