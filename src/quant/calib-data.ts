/**
 * The built-in calibration set: short English paragraphs of mixed register (prose, code, lists,
 * dialogue, numbers), so that activation ranges see more than one kind of token. `--calib_size N`
 * takes the first N (cycling when N exceeds the set). Without a tokenizer.json next to the
 * checkpoint, each text maps to token ids by a fixed hash of its characters (deterministic,
 * covering the vocabulary), which still exercises every layer with realistic ranges.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadTokenizer } from '../tokenizer/index.js';

export const CALIBRATION_TEXTS: readonly string[] = [
  'The quick brown fox jumps over the lazy dog while the farmer watches from the porch.',
  'In 1969, Apollo 11 landed on the Moon; Neil Armstrong and Buzz Aldrin walked on its surface for about two hours.',
  'def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a',
  'Ingredients: 2 cups of flour, 1 teaspoon of salt, 3 eggs, and 250 ml of milk. Whisk until smooth.',
  '"Where are you going?" she asked. "To the station," he replied, "the last train leaves at nine."',
  'Photosynthesis converts light energy into chemical energy stored in glucose, releasing oxygen as a by-product.',
  'SELECT name, COUNT(*) FROM orders WHERE created_at > \'2024-01-01\' GROUP BY name ORDER BY 2 DESC;',
  'The mitochondria is often called the powerhouse of the cell because it produces most of its ATP.',
  'Dear team, the quarterly report is attached. Revenue grew 12% year over year, driven by new customers.',
  'To be, or not to be, that is the question: whether \'tis nobler in the mind to suffer the slings and arrows.',
  'const server = http.createServer((req, res) => { res.writeHead(200); res.end("ok"); });',
  'Mount Everest, at 8,849 metres, is the highest mountain above sea level, on the border of Nepal and China.',
  'Step 1: unplug the router. Step 2: wait thirty seconds. Step 3: plug it back in and wait for the lights.',
  'The French Revolution began in 1789 and profoundly changed the political landscape of Europe.',
  'Machine learning models learn patterns from data; large language models predict the next token of text.',
  'It rained all night, and by morning the river had risen over the old stone bridge at the edge of town.',
];

/** Token ids of `n` calibration prompts, each at most `maxLen` tokens, all below `vocabSize`. */
export function calibrationPrompts(checkpointDir: string, vocabSize: number, n: number, maxLen: number): number[][] {
  const texts = Array.from({ length: n }, (_, i) => CALIBRATION_TEXTS[i % CALIBRATION_TEXTS.length]!);
  const hasTokenizer = fs.existsSync(path.join(checkpointDir, 'tokenizer.json'));
  const tokenizer = hasTokenizer ? loadTokenizer(checkpointDir) : undefined;
  return texts.map((text, i) => {
    const ids = tokenizer ? tokenizer.encode(text).filter((id) => id < vocabSize) : hashIds(text, vocabSize, i);
    return ids.slice(0, maxLen);
  });
}

function hashIds(text: string, vocabSize: number, salt: number): number[] {
  const ids: number[] = [];
  let h = (2166136261 ^ salt) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
    ids.push(h % vocabSize);
  }
  return ids;
}
