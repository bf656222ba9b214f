/** Reads the HF transformers reference written by scripts/fixtures/make_fixtures.py. */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

export const FIXTURES_DIR = path.join('test', 'fixtures', 'models');

const promptSchema = z.object({
  input_ids: z.array(z.number().int()),
  /** base64 float32 [L, V]: HF logits (float64 compute) at every prompt position. */
  logits: z.string(),
  greedy_ids: z.array(z.number().int()),
  /** base64 float32 [32, V]: the logits each greedy token was chosen from. */
  decode_logits: z.string(),
  margins: z.array(z.number()),
  generate_agrees: z.boolean().nullable(),
  notes: z.array(z.string()),
});

const referenceSchema = z.object({
  name: z.string(),
  versions: z.object({ torch: z.string(), transformers: z.string() }).loose(),
  compute_dtype: z.literal('float64'),
  vocab_size: z.number().int(),
  num_new_tokens: z.number().int(),
  prompts: z.array(promptSchema),
});

export interface ReferencePrompt {
  readonly inputIds: number[];
  /** Row-major [inputIds.length, vocab]. */
  readonly logits: Float32Array;
  readonly greedyIds: number[];
  /** Row-major [greedyIds.length, vocab]; row 0 equals the last prompt row. */
  readonly decodeLogits: Float32Array;
  /** HF top-1 − top-2 logit gap at each greedy step. */
  readonly margins: number[];
}

export interface Reference {
  readonly name: string;
  readonly versions: { readonly torch: string; readonly transformers: string };
  readonly vocabSize: number;
  readonly prompts: ReferencePrompt[];
}

function decodeF32(b64: string, rows: number, vocab: number): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length !== rows * vocab * 4) throw new Error(`reference logits hold ${bytes.length} bytes, expected ${rows}×${vocab}×4`);
  // Copy into an aligned buffer (a Buffer's byteOffset need not be a multiple of 4).
  return new Float32Array(Uint8Array.from(bytes).buffer);
}

export function loadReference(name: string): Reference {
  const json: unknown = JSON.parse(fs.readFileSync(path.join(FIXTURES_DIR, name, 'reference.json'), 'utf8'));
  const ref = referenceSchema.parse(json);
  const vocab = ref.vocab_size;
  return {
    name: ref.name,
    versions: ref.versions,
    vocabSize: vocab,
    prompts: ref.prompts.map((p) => ({
      inputIds: p.input_ids,
      logits: decodeF32(p.logits, p.input_ids.length, vocab),
      greedyIds: p.greedy_ids,
      decodeLogits: decodeF32(p.decode_logits, p.greedy_ids.length, vocab),
      margins: p.margins,
    })),
  };
}
