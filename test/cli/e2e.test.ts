/**
 * The foundation issue's acceptance check, through the real CLI in child processes:
 * `kiln convert` → `kiln build --target cpu` → `kiln run --json` on a random HF checkpoint that
 * transformers wrote (test/fixtures/models/unseen-llama, read by no other test) reproduces
 * HF's float64 greedy tokens. Its reference records no near-ties (margins checked below).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kiln } from './helpers.js';

interface RefPrompt { text: string; input_ids: number[]; greedy_ids: number[]; margins: number[] }
const fixture = 'test/fixtures/models/unseen-llama';
const ref = JSON.parse(readFileSync(join(fixture, 'reference.json'), 'utf8')) as { prompts: RefPrompt[] };

describe('kiln convert → build → run --json on an unseen HF checkpoint', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'kiln-e2e-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('reproduces transformers greedy tokens for every prompt', () => {
    const ckpt = join(root, 'ckpt');
    const engine = join(root, 'engine');
    const convert = kiln(['convert', '--model_dir', fixture, '--output_dir', ckpt, '--dtype', 'float32']);
    expect(convert.stderr).toContain('converted');
    expect(convert.code).toBe(0);
    // kebab-case flag spellings are accepted as well as trtllm-build's snake_case
    const build = kiln(['build', '--checkpoint-dir', ckpt, '--output_dir', engine, '--target', 'cpu', '--max-batch-size', '4', '--max_input_len', '64', '--max_output_len', '64']);
    expect(build.code, build.stderr).toBe(0);
    expect(build.stderr).toMatch(/merge-qkv|fuse/);
    expect(build.stderr).toMatch(/memory plan: peak/);
    const args = ['run', '--engine_dir', engine, '--max_new_tokens', String(ref.prompts[0]!.greedy_ids.length), '--temperature', '0', '--json', '--ignore_eos'];
    for (const p of ref.prompts) args.push('--prompt', p.text);
    const run = kiln(args);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { prompt_token_ids: number[]; output_token_ids: number[]; output_text: string });
    expect(lines).toHaveLength(ref.prompts.length);
    ref.prompts.forEach((p, i) => {
      expect(Math.min(...p.margins)).toBeGreaterThan(1e-3); // no near-ties: exact equality is the right check
      expect(lines[i]!.prompt_token_ids).toEqual(p.input_ids);
      expect(lines[i]!.output_token_ids).toEqual(p.greedy_ids);
    });
  });

  it('runs a JSONL prompts file batched, in input order, with per-prompt sampling fields', () => {
    const engine = join(root, 'engine');
    const file = join(root, 'prompts.jsonl');
    writeFileSync(file, ref.prompts.map((p, i) => JSON.stringify({ prompt: p.text, max_new_tokens: 4 + i, temperature: 0, ignore_eos: true })).join('\n'));
    const run = kiln(['run', '--engine_dir', engine, '--prompts_file', file, '--json', '--kv-cache-bytes', String(4 * 2 ** 20)]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { output_token_ids: number[] });
    lines.forEach((l, i) => expect(l.output_token_ids).toEqual(ref.prompts[i]!.greedy_ids.slice(0, 4 + i)));
    expect(run.stderr).toMatch(/requests, \d+ prompt tokens, \d+ generated tokens .* tok\/s\), mean TTFT/);
  });

  it('rejects bad flags and bad prompt files with a message naming the field', () => {
    const file = join(root, 'bad.jsonl');
    writeFileSync(file, '{"prompt": "hi", "temprature": 0.5}\n');
    const bad = kiln(['run', '--engine_dir', join(root, 'engine'), '--prompts_file', file]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('temprature');
    const dtype = kiln(['convert', '--model_dir', fixture, '--output_dir', join(root, 'x'), '--dtype', 'float64']);
    expect(dtype.code).not.toBe(0);
    expect(dtype.stderr).toContain('--dtype must be one of float32, float16, bfloat16');
    const missing = kiln(['run', '--engine_dir', join(root, 'nope'), '--prompt', 'x']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
  });
});
