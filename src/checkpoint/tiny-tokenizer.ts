/**
 * The embedded default model's tokenizer: a byte-level BPE in the Llama 3 layout (Split regex +
 * ByteLevel pre-tokenizer, ByteLevel decoder, BOS by TemplateProcessing), with merges learned
 * deterministically from a built-in English paragraph. Any text round-trips: byte-level BPE
 * covers every byte, so CJK and emoji fall back to byte tokens.
 */

/** Llama 3's pre-tokenizer pattern (Oniguruma syntax, as in its tokenizer.json). */
const LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** GPT-2's pattern in JavaScript syntax, used only to split the training text into words. */
const TRAIN_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export const TINY_SPECIAL_TOKENS = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'] as const;

/** Byte tokens (256) + learned merges; the special tokens follow. */
export const TINY_BASE_VOCAB = 507;

const TRAINING_TEXT = `The kiln was built at the edge of the village, where the river bends toward the hills.
Every morning the potters carried their work down the path: bowls and cups, plates and jars, and the
tall water pitchers that the market always wanted. They stacked the pieces with care, because a piece
that touches another in the fire will fuse to it, and then both are lost. When the kiln was full they
closed the door, sealed it with clay, and lit the fire. The fire burned through the night and through
the next day. The potters took turns watching the color of the flame and the heat of the walls, and
they fed the fire with wood that had been drying since the summer. On the third morning they let the
fire die and waited for the kiln to cool. Nobody opened the door early; the old potters said that
patience is the last glaze. When at last they broke the seal, the whole village came to see what the
fire had made. Some pieces had cracked, and some had come out with colors that nobody had expected,
deep greens and blues that changed in the light. The best of them were sold at the market in the
town, and the rest were used in the houses of the village, where people drank their tea and ate their
bread from the work of their own hands. The children learned the craft by watching, then by trying,
and their first bowls were crooked and thick, but every year they were a little better than before.
In this way the knowledge of the kiln was passed from one generation to the next, and the village
was known in the whole valley for the quality of its pottery and the patience of its people.`;

/** GPT-2's reversible byte → printable character map. */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const map: string[] = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    map[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return map;
}

function countWords(text: string, byteChars: readonly string[]): Map<string, number> {
  const encoder = new TextEncoder();
  const counts = new Map<string, number>();
  for (const match of text.matchAll(TRAIN_SPLIT)) {
    const word = [...encoder.encode(match[0])].map((b) => byteChars[b]!).join('');
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  return counts;
}

function bestPair(words: readonly { symbols: string[]; count: number }[]): [string, string] | undefined {
  const pairs = new Map<string, number>();
  for (const w of words) {
    for (let i = 0; i + 1 < w.symbols.length; i++) {
      const key = `${w.symbols[i]} ${w.symbols[i + 1]}`;
      pairs.set(key, (pairs.get(key) ?? 0) + w.count);
    }
  }
  let best: string | undefined;
  let bestCount = 0;
  for (const [key, count] of pairs) {
    if (count > bestCount || (count === bestCount && best !== undefined && key < best)) {
      best = key;
      bestCount = count;
    }
  }
  if (best === undefined) return undefined;
  const [a, b] = best.split(' ') as [string, string];
  return [a, b];
}

function applyMerge(symbols: string[], a: string, b: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < symbols.length; i++) {
    if (symbols[i] === a && symbols[i + 1] === b) {
      out.push(a + b);
      i++;
    } else {
      out.push(symbols[i]!);
    }
  }
  return out;
}

/** Learns merges (most frequent pair first, ties by string order) until the vocab has `vocabSize` entries. */
export function trainByteLevelBpe(text: string, vocabSize: number): { vocab: Map<string, number>; merges: string[] } {
  const byteChars = bytesToUnicode();
  const vocab = new Map<string, number>(byteChars.map((c, i) => [c, i]));
  const words = [...countWords(text, byteChars)].sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([w, count]) => ({ symbols: [...w], count }));
  const merges: string[] = [];
  while (vocab.size < vocabSize) {
    const pair = bestPair(words);
    if (!pair) throw new Error(`BPE training ran out of pairs at ${vocab.size} tokens`);
    const [a, b] = pair;
    merges.push(`${a} ${b}`);
    if (!vocab.has(a + b)) vocab.set(a + b, vocab.size);
    for (const w of words) w.symbols = applyMerge(w.symbols, a, b);
  }
  return { vocab, merges };
}

const LLAMA3_CHAT_TEMPLATE = "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

export interface TinyTokenizerFiles {
  readonly tokenizerJson: object;
  readonly tokenizerConfig: object;
  readonly vocabSize: number;
  /** Id of each special token, by content. */
  readonly specialIds: Readonly<Record<(typeof TINY_SPECIAL_TOKENS)[number], number>>;
}

function templateProcessing(bosId: number): object {
  const bos = { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } };
  return {
    type: 'TemplateProcessing',
    single: [bos, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [bos, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [bosId], tokens: ['<|begin_of_text|>'] } },
  };
}

/** Builds tokenizer.json and tokenizer_config.json contents (deterministic). */
export function createTinyTokenizer(): TinyTokenizerFiles {
  const { vocab, merges } = trainByteLevelBpe(TRAINING_TEXT, TINY_BASE_VOCAB);
  const specialIds = Object.fromEntries(TINY_SPECIAL_TOKENS.map((t, i) => [t, TINY_BASE_VOCAB + i])) as TinyTokenizerFiles['specialIds'];
  const addedTokens = TINY_SPECIAL_TOKENS.map((content) => ({
    id: specialIds[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  }));
  const tokenizerJson = {
    version: '1.0', truncation: null, padding: null, added_tokens: addedTokens, normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: LLAMA3_SPLIT }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ] },
    post_processor: { type: 'Sequence', processors: [
      { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      templateProcessing(specialIds['<|begin_of_text|>']),
    ] },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab: Object.fromEntries(vocab), merges,
    },
  };
  const tokenizerConfig = {
    added_tokens_decoder: Object.fromEntries(addedTokens.map(({ id, ...rest }) => [String(id), rest])),
    bos_token: '<|begin_of_text|>',
    chat_template: LLAMA3_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: '<|eot_id|>',
    model_input_names: ['input_ids', 'attention_mask'],
    model_max_length: 4096,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  return { tokenizerJson, tokenizerConfig, vocabSize: TINY_BASE_VOCAB + TINY_SPECIAL_TOKENS.length, specialIds };
}
