/** The model-definition layer: graph IR, Network, Tensor, the functional API and op specs. */
export * from './types.js';
export * from './dtype.js';
export { Tensor, type TensorInit } from './tensor.js';
export { Network } from './network.js';
export { netGuard } from './active.js';
export * as functional from './functional.js';
export * from './functional.js';
export {
  getOpSpec, tryGetOpSpec, listOps, broadcastShapes, decodeDims, encodeDims, formatShape, resolveReshape,
  ropeScalingAttr, activationAttr, ACTIVATIONS,
  type Activation, type FusedOpName, type OpSpec, type TensorSig,
} from './ops/index.js';
export { validateGraph } from './validate.js';
