/**
 * What the runtime and the server need from a tokenizer. `loadTokenizer(dir)` in
 * `tokenizer/index.ts` returns one, read from an HF model, checkpoint or engine directory.
 */

export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

export interface TextTokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  /** Every token that ends generation (eos_token_id may be a list in generation_config.json). */
  readonly eosTokenIds: readonly number[];
  /** Adds the BOS token etc. as the tokenizer's post-processor says, unless `addSpecialTokens` is false. */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** True when the model ships a chat template. */
  hasChatTemplate(): boolean;
  /** Renders the chat template; throws ConfigError when there is none. */
  applyChatTemplate(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string;
  /** Streams text from token ids without ever splitting a multi-byte character. */
  createDetokenizer(options?: { skipSpecialTokens?: boolean }): IncrementalDetokenizer;
}

export interface IncrementalDetokenizer {
  /** Feeds generated ids; returns the text that is now final (possibly ''). */
  push(ids: readonly number[]): string;
  /** Returns whatever text is still held back (e.g. an incomplete byte sequence, as U+FFFD). */
  flush(): string;
}
