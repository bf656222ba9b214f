/**
 * Per-target extension point. `Builder.buildEngine` runs the target-independent passes and memory
 * plan, then hands the engine to the hook registered for its target, which may add sections
 * (e.g. 'cubin', 'tactics'), set `config.gpuArch` and rewrite the graph. CPU needs no hook. The
 * CUDA backend registers its hook when its module loads (`registerTargetBuilder('cuda', ...)`).
 */
import type { Engine, BuildSettings, Target } from '../engine/types.js';
import { BackendError } from '../errors/index.js';

export interface TargetBuildContext {
  readonly settings: BuildSettings;
  readonly log: (line: string) => void;
}

/** Turns the target-independent engine into one for the target. Must not mutate its input. */
export type TargetBuilderHook = (engine: Engine, context: TargetBuildContext) => Engine;

const hooks = new Map<Target, TargetBuilderHook>();

/** Registers (or replaces) the hook of `target`; returns a function that unregisters it. */
export function registerTargetBuilder(target: Target, hook: TargetBuilderHook): () => void {
  hooks.set(target, hook);
  return () => {
    if (hooks.get(target) === hook) hooks.delete(target);
  };
}

export function tryGetTargetBuilder(target: Target): TargetBuilderHook | undefined {
  return hooks.get(target);
}

/** Applies the target's hook; cpu engines pass through. Throws BackendError when none is registered. */
export function applyTargetBuilder(engine: Engine, context: TargetBuildContext): Engine {
  const target = engine.config.target;
  if (target === 'cpu') return engine;
  const hook = hooks.get(target);
  if (!hook) {
    throw new BackendError(`building for --target ${target} needs the ${target} builder, which the ${target} backend registers; it is not available here (build with --target cpu, or run where the ${target} backend loads)`);
  }
  return hook(engine, context);
}
