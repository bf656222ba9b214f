/** A tiny ModelConfig and seeded random weights for graph-level tests of the model definitions. */
import type { HostTensor } from '../../src/backends/types.js';
import type { WeightStore } from '../../src/engine/types.js';
import { fromFloat32 } from '../../src/graph/dtype.js';
import type { ModelConfig } from '../../src/models/config.js';
import { expectedWeights } from '../../src/models/weights.js';
import { mulberry32 } from '../../src/util/prng.js';

export function tinyConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return {
    family: 'llama', architecture: 'LlamaForCausalLM', vocabSize: 40, hiddenSize: 16, intermediateSize: 24,
    numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, rmsNormEps: 1e-5, ropeTheta: 10000,
    ropeScaling: { type: 'default' }, maxPositionEmbeddings: 128, tieWordEmbeddings: false, qkvBias: false,
    oProjBias: false, slidingWindow: null, dtype: 'float32', bosTokenId: 1, eosTokenIds: [2],
    ...overrides,
  };
}

const prng = mulberry32;

/** Every expected weight, uniform in [-0.5, 0.5) (norm weights around 1), in `config.dtype`. */
export function randomWeights(config: ModelConfig, seed = 7): WeightStore {
  const rand = prng(seed);
  const map = new Map<string, HostTensor>();
  for (const { name, shape } of expectedWeights(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const f32 = new Float32Array(n);
    const isNorm = name.endsWith('layernorm.weight') || name === 'model.norm.weight';
    for (let i = 0; i < n; i++) f32[i] = (isNorm ? 1 : 0) + rand() - 0.5;
    const data = config.dtype === 'float32' ? f32 : fromFloat32(config.dtype, f32);
    map.set(name, { dtype: config.dtype, shape, data: data as HostTensor['data'] });
  }
  return {
    names: () => [...map.keys()],
    has: (name) => map.has(name),
    get: (name) => {
      const t = map.get(name);
      if (!t) throw new Error(`no weight ${name}`);
      return t;
    },
  };
}
