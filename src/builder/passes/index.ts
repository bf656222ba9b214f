/** The builder's passes, in the order `Builder.buildEngine` runs them. */
import { dce } from './dce.js';
import { fuseAddRmsnorm } from './fuse-add-rmsnorm.js';
import { fuseMatmulEpilogue } from './fuse-matmul-epilogue.js';
import { mergeGateUp } from './merge-gate-up.js';
import { mergeQkv } from './merge-qkv.js';
import type { NamedPass } from './types.js';

export const DEFAULT_PASSES: readonly NamedPass[] = [
  { name: 'merge-qkv', run: mergeQkv },
  { name: 'merge-gate-up', run: mergeGateUp },
  { name: 'fuse-matmul-epilogue', run: fuseMatmulEpilogue },
  { name: 'fuse-add-rmsnorm', run: fuseAddRmsnorm },
  { name: 'dce', run: dce },
];

export { dce, fuseAddRmsnorm, fuseMatmulEpilogue, mergeGateUp, mergeQkv };
export type { NamedPass, Pass, PassResult } from './types.js';
