/**
 * Which network seed-style `new Tensor({...})` adds inputs to: the innermost `netGuard`
 * network, else the last network created.
 */
import type { Network } from './network.js';

const guards: Network[] = [];
let lastCreated: Network | undefined;

export function noteNetworkCreated(network: Network): void {
  lastCreated = network;
}

/** Runs `fn` with `network` as the active network (restored afterwards, even on throw). */
export function netGuard<T>(network: Network, fn: () => T): T {
  guards.push(network);
  try {
    return fn();
  } finally {
    guards.pop();
  }
}

export function tryActiveNetwork(): Network | undefined {
  return guards[guards.length - 1] ?? lastCreated;
}
