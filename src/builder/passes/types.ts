/** The shape every builder pass has: a pure function of graph and weights. */
import type { GraphDef } from '../../graph/types.js';
import type { WeightStore } from '../../engine/types.js';

export interface PassResult {
  readonly graph: GraphDef;
  /** The weights the new graph reads (merging passes add lazily built merged weights). */
  readonly weights: WeightStore;
  /** What the pass changed, with counts, one line each. */
  readonly log: string[];
}

export type Pass = (graph: GraphDef, weights: WeightStore) => PassResult;

export interface NamedPass {
  readonly name: string;
  readonly run: Pass;
}
