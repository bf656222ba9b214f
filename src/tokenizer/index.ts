/**
 * `loadTokenizer(dir)`: the model's tokenizer.json through @huggingface/tokenizers, special tokens
 * from tokenizer_config.json / generation_config.json / config.json, and the chat template.
 * Works on an HF model directory, a Kiln checkpoint and an engine directory alike.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { ConfigError } from '../errors/index.js';
import { ChatTemplate, findChatTemplate } from './chat-template.js';
import { WindowedDetokenizer } from './detokenizer.js';
import { resolveBosId, resolveEosIds, tokenContent } from './special-tokens.js';
import type { ChatMessage, IncrementalDetokenizer, TextTokenizer } from './types.js';

export type { ChatMessage, IncrementalDetokenizer, TextTokenizer } from './types.js';
export { WindowedDetokenizer } from './detokenizer.js';

type Json = Record<string, unknown>;

function readJson(file: string, required: boolean): Json | null {
  if (!fs.existsSync(file)) {
    if (required) throw new ConfigError(`${file} is missing.`);
    return null;
  }
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new ConfigError(`${file} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${file} must hold a JSON object.`);
  return value as Json;
}

class HfTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];

  constructor(
    private readonly tok: Tokenizer,
    ids: { bos: number | null; eos: number[] },
    private readonly template: ChatTemplate | null,
  ) {
    let maxId = -1;
    for (const id of tok.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    this.bosTokenId = ids.bos;
    this.eosTokenIds = ids.eos;
  }

  encode(text: string, options?: { addSpecialTokens?: boolean }): number[] {
    return this.tok.encode(text, { add_special_tokens: options?.addSpecialTokens ?? true }).ids;
  }

  /** Exact decode: no "clean up tokenization spaces", so decode(encode(text)) === text for byte-level BPE. */
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string {
    if (ids.length === 0) return '';
    return this.tok.decode([...ids], { skip_special_tokens: options?.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
  }

  hasChatTemplate(): boolean {
    return this.template !== null;
  }

  applyChatTemplate(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string {
    if (!this.template) {
      throw new ConfigError('This model has no chat template (tokenizer_config.json has no chat_template and there is no chat_template.jinja); send a plain prompt (completions) instead, or add a template.');
    }
    return this.template.render(messages, options?.addGenerationPrompt ?? true);
  }

  createDetokenizer(options?: { skipSpecialTokens?: boolean }): IncrementalDetokenizer {
    const skip = options?.skipSpecialTokens ?? true;
    return new WindowedDetokenizer((ids) => this.decode(ids, { skipSpecialTokens: skip }));
  }
}

/**
 * Loads the tokenizer of a model, checkpoint or engine directory.
 * Throws ConfigError when tokenizer.json is missing or a file is malformed.
 */
export function loadTokenizer(dir: string): TextTokenizer {
  const tokenizerPath = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(tokenizerPath)) {
    throw new ConfigError(`${dir} has no tokenizer.json. Kiln needs the Hugging Face fast-tokenizer file: copy tokenizer.json (and tokenizer_config.json) from the model repository into ${dir}; for a slow-only tokenizer, run AutoTokenizer.from_pretrained(...).save_pretrained(dir) in Python to produce one.`);
  }
  const tokenizerJson = readJson(tokenizerPath, true)!;
  const tokenizerConfig = readJson(path.join(dir, 'tokenizer_config.json'), false) ?? {};
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizerJson, tokenizerConfig);
  } catch (cause) {
    throw new ConfigError(`${tokenizerPath} cannot be loaded: ${(cause as Error).message}`, { cause });
  }
  const sources = {
    tokenizerConfig,
    generationConfig: readJson(path.join(dir, 'generation_config.json'), false),
    config: readJson(path.join(dir, 'config.json'), false),
    tokenToId: (t: string) => tok.token_to_id(t),
  };
  const ids = { bos: resolveBosId(sources), eos: resolveEosIds(sources) };
  const source = findChatTemplate(dir, tokenizerConfig);
  const idToText = (id: number | null | undefined) => (id === null || id === undefined ? '' : tok.id_to_token(id) ?? '');
  const template = source === null ? null : new ChatTemplate(source, {
    bosToken: tokenContent(tokenizerConfig.bos_token) ?? idToText(ids.bos),
    eosToken: tokenContent(tokenizerConfig.eos_token) ?? idToText(ids.eos[0]),
  }, dir);
  return new HfTokenizer(tok, ids, template);
}
