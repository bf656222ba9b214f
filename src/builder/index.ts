/** The ahead-of-time builder: passes, memory planning, and `kiln build`. */
export { Builder, type BuildEngineOptions } from './builder.js';
export { buildFromCheckpoint, type BuildFromCheckpointOptions, type BuildResult } from './build-command.js';
export { DEFAULT_BUILD_SETTINGS, SETTING_FLAGS, resolveBuildSettings } from './settings.js';
export { planMemory, planBindings, liveIntervals, formatPlanLog, PLAN_ALIGN, type SymbolBindings } from './memory-plan.js';
export { registerTargetBuilder, tryGetTargetBuilder, applyTargetBuilder, type TargetBuilderHook, type TargetBuildContext } from './targets.js';
export { createMapWeightStore, createMergedWeightStore, createFilteredWeightStore, emptyWeightStore, type MergedWeight } from './weights.js';
export { DEFAULT_PASSES, dce, fuseAddRmsnorm, fuseMatmulEpilogue, mergeGateUp, mergeQkv, type NamedPass, type Pass, type PassResult } from './passes/index.js';
export { GraphRewriter, indexGraph, type GraphIndex } from './graph-edit.js';
