/**
 * `kiln build --load_format dummy`: build from a config.json alone (a Hugging Face model directory
 * or a Kiln checkpoint), with no weights on disk. The engine records `dummyWeights: { seed }` and
 * stores no weight sections; backends fill seeded random weights at load (backends/dummy-weights.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { WeightStore } from '../engine/types.js';
import { CheckpointError } from '../errors/index.js';
import type { GraphDef } from '../graph/types.js';
import type { ModelConfig } from '../models/config.js';
import { parseHfConfig } from '../models/index.js';

export type LoadFormat = 'auto' | 'dummy';

/** The model config of `dir`: a Kiln checkpoint's `model`, or a Hugging Face config.json. */
export function readModelConfigOnly(dir: string): ModelConfig {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) throw new CheckpointError(`${dir} has no config.json; --load_format dummy needs a Hugging Face config.json or a Kiln checkpoint config`);
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (typeof json['kilnCheckpoint'] === 'number') {
    const model = json['model'];
    if (!model || typeof model !== 'object') throw new CheckpointError(`${file} is a Kiln checkpoint config without a model; re-run kiln convert`);
    return model as ModelConfig;
  }
  return parseHfConfig(json, file);
}

/** A store that has every weight the graph reads but holds no bytes (never read for dummy engines). */
export function placeholderWeightStore(graph: GraphDef): WeightStore {
  const names = new Set(graph.tensors.filter((t) => t.kind === 'weight').map((t) => t.name!));
  return {
    names: () => [...names],
    has: (name) => names.has(name),
    get: (name) => {
      throw new CheckpointError(`weight '${name}' of a --load_format dummy build has no bytes; backends fill it at load`);
    },
  };
}
