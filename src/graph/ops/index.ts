/** The op registry: every primitive op of the functional API plus the builder's fused ops. */
import { ShapeError } from '../../errors/index.js';
import type { OpName } from '../types.js';
import type { OpSpec } from './common.js';
import { elementwiseSpecs } from './elementwise.js';
import { linearSpecs } from './linear.js';
import { llmSpecs } from './llm.js';
import { collectiveSpecs } from './collective.js';
import { normSpecs } from './norm.js';
import { quantSpecs } from './quant.js';
import { shapeSpecs } from './shape.js';

/** Ops builder passes introduce on top of `OpName`. */
export type FusedOpName = 'fused_matmul' | 'add_rmsnorm' | 'silu_mul' | 'fp8_matmul' | 'wo_matmul';

const SPECS = new Map<string, OpSpec>(
  [...elementwiseSpecs, ...linearSpecs, ...normSpecs, ...shapeSpecs, ...llmSpecs, ...collectiveSpecs, ...quantSpecs].map((s) => [s.name, s]),
);

/** `undefined` for an unknown op. */
export function tryGetOpSpec(op: string): OpSpec | undefined {
  return SPECS.get(op);
}

/** Throws `ShapeError` naming the known ops for an unknown op. */
export function getOpSpec(op: OpName | FusedOpName | string): OpSpec {
  const spec = SPECS.get(op);
  if (!spec) throw new ShapeError(`unknown op '${op}' (known: ${[...SPECS.keys()].join(', ')})`);
  return spec;
}

export function listOps(): string[] {
  return [...SPECS.keys()];
}

export type { OpSpec, TensorSig } from './common.js';
export { broadcastShapes, decodeDims, encodeDims, formatShape } from './common.js';
export { ACTIVATIONS, activationAttr, type Activation } from './linear.js';
export { ropeScalingAttr } from './llm.js';
export { resolveReshape } from './shape.js';
