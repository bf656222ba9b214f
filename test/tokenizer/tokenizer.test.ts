import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyModel } from '../../src/checkpoint/tiny-model.js';
import { ConfigError, RequestError } from '../../src/errors/index.js';
import { loadTokenizer, type TextTokenizer } from '../../src/tokenizer/index.js';

const texts = (JSON.parse(fs.readFileSync(new URL('../fixtures/tokenizer/texts.json', import.meta.url), 'utf8')) as { texts: string[] }).texts;

let dir: string;
let tok: TextTokenizer;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-tok-'));
  await writeTinyModel(path.join(dir, 'tiny'), { seed: 1, dtype: 'float16' });
  tok = loadTokenizer(path.join(dir, 'tiny'));
});
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

/** Streams ids one at a time (or in chunks) and returns each piece. */
function stream(t: TextTokenizer, ids: readonly number[], chunk = 1, skipSpecialTokens = true): string[] {
  const d = t.createDetokenizer({ skipSpecialTokens });
  const pieces: string[] = [];
  for (let i = 0; i < ids.length; i += chunk) pieces.push(d.push(ids.slice(i, i + chunk)));
  pieces.push(d.flush());
  return pieces;
}

function copyTiny(name: string): string {
  const to = path.join(dir, name);
  fs.cpSync(path.join(dir, 'tiny'), to, { recursive: true });
  return to;
}

describe('the tiny built-in tokenizer', () => {
  it('has 512 ids, BOS <|begin_of_text|> and EOS <|end_of_text|> + <|eot_id|>', () => {
    expect(tok.vocabSize).toBe(512);
    expect(tok.bosTokenId).toBe(507);
    expect(tok.eosTokenIds).toEqual([511, 508]);
    expect(tok.encode('The kiln', { addSpecialTokens: true })[0]).toBe(507);
    expect(tok.encode('The kiln', { addSpecialTokens: false })[0]).not.toBe(507);
  });

  it('round-trips every reference text, including CJK and emoji through byte tokens', () => {
    for (const text of texts) {
      const ids = tok.encode(text, { addSpecialTokens: false });
      expect(tok.decode(ids)).toBe(text);
      expect(tok.decode([507, ...ids], { skipSpecialTokens: true })).toBe(text.replace(/<\|(begin_of_text|eot_id|start_header_id|end_header_id)\|>/g, ''));
    }
    expect(tok.encode('你', { addSpecialTokens: false })).toEqual([228, 189, 160]);
  });

  it('keeps special tokens in text atomic', () => {
    expect(tok.encode('<|begin_of_text|>hi<|eot_id|>', { addSpecialTokens: false })).toEqual([507, 104, 105, 511]);
  });

  it('streams text that concatenates to decode(ids), never emitting a partial character', () => {
    for (const text of texts) {
      const ids = tok.encode(text, { addSpecialTokens: false });
      for (const chunk of [1, 3]) {
        const pieces = stream(tok, ids, chunk);
        expect(pieces.join('')).toBe(tok.decode(ids, { skipSpecialTokens: true }));
        for (const p of pieces) expect(p).not.toContain('\uFFFD');
      }
    }
    // '你' is three byte tokens: nothing is final until the third.
    const d = tok.createDetokenizer();
    expect([d.push([228]), d.push([189]), d.push([160]), d.flush()]).toEqual(['', '', '你', '']);
  });

  it('flush() returns an incomplete byte sequence as U+FFFD', () => {
    const d = tok.createDetokenizer();
    expect(d.push([72])).toBe('H');
    expect(d.push([228, 189])).toBe('');
    expect(d.flush()).toBe('\uFFFD');
    expect(d.flush()).toBe('');
  });

  it('streams arbitrary strings exactly (property)', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 24 }), fc.integer({ min: 1, max: 4 }), (s, chunk) => {
      const ids = tok.encode(s, { addSpecialTokens: false });
      expect(tok.decode(ids)).toBe(s);
      expect(stream(tok, ids, chunk).join('')).toBe(s);
    }), { numRuns: 150 });
  });

  it('renders the Llama 3 chat template with bos_token', () => {
    expect(tok.hasChatTemplate()).toBe(true);
    const out = tok.applyChatTemplate([{ role: 'system', content: 'Be brief. ' }, { role: 'user', content: 'Hi!' }], { addGenerationPrompt: true });
    expect(out).toBe('<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
    expect(tok.applyChatTemplate([{ role: 'user', content: 'x' }], { addGenerationPrompt: false })).toBe('<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nx<|eot_id|>');
  });
});

describe('loadTokenizer: sources of templates and special tokens, and errors', () => {
  it('reads a named template list, chat_template.jinja, and a template that raises', () => {
    const a = copyTiny('list');
    const cfgPath = path.join(a, 'tokenizer_config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    cfg.chat_template = [{ name: 'tool_use', template: 'TOOLS' }, { name: 'default', template: "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{{ eos_token }}" }];
    fs.writeFileSync(cfgPath, JSON.stringify(cfg));
    expect(loadTokenizer(a).applyChatTemplate([{ role: 'user', content: 'q' }])).toBe('<|begin_of_text|>[user]q<|eot_id|>');

    delete cfg.chat_template;
    fs.writeFileSync(cfgPath, JSON.stringify(cfg));
    expect(loadTokenizer(a).hasChatTemplate()).toBe(false);
    expect(() => loadTokenizer(a).applyChatTemplate([{ role: 'user', content: 'q' }])).toThrow(ConfigError);

    fs.writeFileSync(path.join(a, 'chat_template.jinja'), "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}{{ messages[0].content }}");
    const t = loadTokenizer(a);
    expect(t.applyChatTemplate([{ role: 'user', content: 'ok' }])).toBe('ok');
    expect(() => t.applyChatTemplate([{ role: 'system', content: 's' }])).toThrow(RequestError);
    expect(() => t.applyChatTemplate([{ role: 'system', content: 's' }])).toThrow(/rejected the messages: first must be user/);
  });

  it('unions EOS ids from tokenizer_config, generation_config (int or list) and config.json', () => {
    const b = copyTiny('eos');
    fs.writeFileSync(path.join(b, 'generation_config.json'), JSON.stringify({ eos_token_id: [508, 509] }));
    fs.writeFileSync(path.join(b, 'config.json'), JSON.stringify({ eos_token_id: 510, bos_token_id: 1 }));
    const t = loadTokenizer(b);
    expect(t.eosTokenIds).toEqual([511, 508, 509, 510]);
    expect(t.bosTokenId).toBe(507);
    const cfgPath = path.join(b, 'tokenizer_config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    cfg.bos_token = null;
    cfg.eos_token = { content: '<|end_of_text|>', special: true };
    fs.writeFileSync(cfgPath, JSON.stringify(cfg));
    fs.writeFileSync(path.join(b, 'generation_config.json'), JSON.stringify({ bos_token_id: 3, eos_token_id: 5 }));
    const u = loadTokenizer(b);
    expect(u.bosTokenId).toBe(3);
    expect(u.eosTokenIds).toEqual([508, 5, 510]);
  });

  it('reads ids from a Kiln checkpoint config.json (model.bosTokenId / eosTokenIds)', () => {
    const c = copyTiny('kiln');
    fs.rmSync(path.join(c, 'generation_config.json'));
    fs.writeFileSync(path.join(c, 'config.json'), JSON.stringify({ kilnCheckpoint: 1, model: { bosTokenId: 507, eosTokenIds: [508, 511] } }));
    expect(loadTokenizer(c).eosTokenIds).toEqual([511, 508]);
  });

  it('says what to add when tokenizer.json is missing', () => {
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    expect(() => loadTokenizer(empty)).toThrow(ConfigError);
    expect(() => loadTokenizer(empty)).toThrow(new RegExp(`${empty} has no tokenizer.json.*copy tokenizer.json`));
  });
});
