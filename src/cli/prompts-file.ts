/**
 * `--prompts_file`: one prompt per line, or JSONL objects `{ "prompt": ..., <sampling fields> }`
 * whose fields override the command-line sampling flags for that prompt.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import { samplingFieldsSchema, type SamplingFields } from './sampling-flags.js';

export interface PromptEntry {
  readonly prompt: string;
  readonly fields: SamplingFields;
}

const jsonlEntrySchema = samplingFieldsSchema.extend({ prompt: z.string().min(1) }).strict();

export function readPromptsFile(path: string): PromptEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`--prompts_file: cannot read '${path}' (${(err as Error).message})`);
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new ConfigError(`--prompts_file: '${path}' holds no prompts; write one prompt per line or JSONL objects with "prompt"`);
  return lines.map((line, i) => parseLine(line, `${path}:${i + 1}`));
}

function parseLine(line: string, where: string): PromptEntry {
  if (!line.trimStart().startsWith('{')) return { prompt: line, fields: {} };
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (err) {
    throw new ConfigError(`${where}: not valid JSON (${(err as Error).message}); write {"prompt": "..."} or a plain line`);
  }
  const parsed = jsonlEntrySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') || (issue && 'keys' in issue ? String(issue.keys) : '?');
    throw new ConfigError(`${where}: field '${field}': ${issue?.message ?? 'invalid'}`);
  }
  const { prompt, ...fields } = parsed.data;
  return { prompt, fields };
}
