/** Pattern helpers shared by the passes. */
import type { NodeDef } from '../../graph/types.js';
import type { GraphIndex } from '../graph-edit.js';

/** A `transposeB` matmul whose b operand is a named weight (an HF Linear). */
export interface LinearMatch {
  readonly at: number;
  readonly node: NodeDef;
  readonly input: number;
  readonly weight: number;
  readonly weightName: string;
  /** Output features (rows of the [N, K] weight). */
  readonly outFeatures: number;
}

export function matchLinear(index: GraphIndex, nodes: readonly NodeDef[], at: number | undefined): LinearMatch | undefined {
  if (at === undefined) return undefined;
  const node = nodes[at];
  if (!node || node.op !== 'matmul' || node.attrs.transposeB !== true) return undefined;
  const [input, weight] = node.inputs;
  if (input === undefined || weight === undefined) return undefined;
  const w = index.tensor(weight);
  const rows = w.shape[0];
  if (w.kind !== 'weight' || w.name === undefined || w.shape.length !== 2 || typeof rows !== 'number') return undefined;
  return { at, node, input, weight, weightName: w.name, outFeatures: rows };
}

/** The other operand of a binary node, when `id` is one of its two inputs. */
export function otherOperand(node: NodeDef, id: number): number | undefined {
  const [a, b] = node.inputs;
  if (node.inputs.length !== 2) return undefined;
  if (a === id) return b;
  if (b === id) return a;
  return undefined;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
