/**
 * mulberry32: a small, well-mixed seeded 32-bit PRNG returning floats in [0, 1). Used where
 * reproducible randomness is needed outside sampling (synthetic weights, benchmark workloads);
 * sampling has its own counter-based generator (runtime/sampling/prng.ts).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** murmur3's 32-bit finalizer: a bijective avalanche mix, the core of Kiln's counter-based generators. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
