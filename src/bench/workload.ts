/**
 * Benchmark workloads: synthetic requests (fixed or normally distributed input/output
 * lengths, seeded) or a JSONL dataset. Prompts are token ids so input lengths are exact.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import { mulberry32 } from '../util/prng.js';

export interface BenchRequest {
  readonly promptTokenIds: readonly number[];
  readonly outputLen: number;
}

export interface SyntheticSpec {
  readonly numRequests: number;
  readonly inputLen: number;
  readonly outputLen: number;
  /** Standard deviation of the lengths (0 = fixed lengths). */
  readonly inputStd?: number;
  readonly outputStd?: number;
  readonly vocabSize: number;
  readonly seed: number;
}

/** The workload generator: seeded, so the same flags give the same requests. */
export const createRng = mulberry32;

function normalLength(rng: () => number, mu: number, std: number): number {
  if (std <= 0) return mu;
  const u = Math.max(rng(), 1e-12);
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
  return Math.max(1, Math.round(mu + std * z));
}

export function syntheticWorkload(spec: SyntheticSpec): BenchRequest[] {
  const rng = createRng(spec.seed);
  // Skip the first ids, which are often special tokens in real vocabularies... but stay in range for tiny ones.
  const lo = spec.vocabSize > 1000 ? 256 : 0;
  const requests: BenchRequest[] = [];
  for (let i = 0; i < spec.numRequests; i++) {
    const inLen = normalLength(rng, spec.inputLen, spec.inputStd ?? 0);
    const outLen = normalLength(rng, spec.outputLen, spec.outputStd ?? 0);
    const ids = Array.from({ length: inLen }, () => lo + Math.floor(rng() * (spec.vocabSize - lo)));
    requests.push({ promptTokenIds: ids, outputLen: outLen });
  }
  return requests;
}

const datasetLineSchema = z.object({
  prompt_token_ids: z.array(z.number().int().nonnegative()).min(1),
  output_len: z.number().int().positive(),
});

/** JSONL: one `{ "prompt_token_ids": [...], "output_len": N }` per line. */
export function readDataset(path: string): BenchRequest[] {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
  return lines.map((line, i) => {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      throw new ConfigError(`--dataset ${path}:${i + 1}: not JSON; each line must be {"prompt_token_ids": [...], "output_len": N}`);
    }
    const parsed = datasetLineSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ConfigError(`--dataset ${path}:${i + 1}: field '${issue?.path.join('.') ?? '?'}': ${issue?.message ?? 'invalid'}`);
    }
    return { promptTokenIds: parsed.data.prompt_token_ids, outputLen: parsed.data.output_len };
  });
}
