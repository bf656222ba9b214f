/**
 * Counter-based PRNG: a uniform number is a pure function of (seed, sample index, step), so a
 * request's samples never depend on which other requests share its batch or on how many random
 * numbers anyone drew before. The mixer is murmur3's fmix32 over a chained combination of the key.
 */
import { fmix32 } from '../../util/prng.js';

function mixKey(seed: number, index: number, step: number, lane: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 0x100000000) >>> 0;
  let h = fmix32(lo ^ 0x9e3779b9);
  h = fmix32(h ^ Math.imul(hi + 0x7f4a7c15, 0x27d4eb2f));
  h = fmix32(h ^ Math.imul(index + 0x165667b1, 0x85ebca77));
  h = fmix32(h ^ Math.imul(step + 0x3c6ef372, 0xc2b2ae3d));
  return fmix32(h ^ Math.imul(lane + 1, 0x9e3779b1));
}

/** Uniform in [0, 1) with 53 random bits, keyed by (seed, index, step). */
export function uniformAt(seed: number, index: number, step: number): number {
  const a = mixKey(seed, index, step, 0) >>> 5; // 27 bits
  const b = mixKey(seed, index, step, 1) >>> 6; // 26 bits
  return (a * 67108864 + b) / 9007199254740992;
}

/** A fresh seed for requests that set none. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 0x100000000);
}
