/**
 * The one entry `kiln build` (builder/build-command.ts) calls: decides whether the build
 * quantizes (flags, or a quantized checkpoint), prepares the passes and weights, and formats
 * the size report once the engine is built.
 */
import type { WeightStore } from '../engine/types.js';
import type { GraphDef } from '../graph/types.js';
import type { ModelConfig } from '../models/config.js';
import type { NamedPass } from '../builder/passes/index.js';
import { prepareQuantization } from './build.js';
import { readCheckpointQuant, withFloatView } from './checkpoint-view.js';
import { formatSizeReport } from './report.js';
import { DEFAULT_QUANT_OPTIONS, type QuantOptions, type QuantSummary } from './types.js';

export interface QuantizedBuild {
  readonly weights: WeightStore;
  readonly passes: readonly NamedPass[];
  readonly summary: QuantSummary;
  /** Size report lines for the built graph. */
  report(built: GraphDef): string[];
}

/** undefined when neither the flags nor the checkpoint ask for quantization. */
export function planQuantizedBuild(args: {
  checkpointDir: string; model: ModelConfig; graph: GraphDef; weights: WeightStore;
  options: Partial<QuantOptions> | undefined; log: (line: string) => void;
}): QuantizedBuild | undefined {
  const imported = readCheckpointQuant(args.checkpointDir);
  const options = { ...DEFAULT_QUANT_OPTIONS, ...args.options };
  if (!imported && options.format === null && options.kvCacheDtype !== 'fp8') return undefined;
  const weights = imported ? withFloatView(args.weights) : args.weights;
  if (imported) args.log(`checkpoint is pre-quantized: ${imported.format ?? 'none'} from ${imported.source}`);
  const prepared = prepareQuantization({
    checkpointDir: args.checkpointDir, model: args.model, graph: args.graph, weights, options, log: args.log, ...(imported ? { imported } : {}),
  });
  const kvAfter = prepared.summary.kvCacheDtype ?? args.model.dtype;
  return {
    weights, passes: prepared.passes, summary: prepared.summary,
    report: (built) => formatSizeReport(args.graph, built, args.model, args.model.dtype, kvAfter),
  };
}
