/**
 * Chat templates: from tokenizer_config.json `chat_template` (a string, or a list of
 * `{ name, template }` where 'default' is used), else chat_template.jinja (transformers v5) or
 * chat_template.json; rendered with @huggingface/jinja (which provides `raise_exception`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Template } from '@huggingface/jinja';
import { ConfigError, RequestError } from '../errors/index.js';
import type { ChatMessage } from './types.js';

function fromConfigValue(value: unknown, where: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value.filter((v): v is { name: string; template: string } =>
      !!v && typeof v === 'object' && typeof (v as { name?: unknown }).name === 'string' && typeof (v as { template?: unknown }).template === 'string');
    const chosen = named.find((v) => v.name === 'default');
    if (!chosen) throw new ConfigError(`${where}: chat_template is a list without a 'default' entry (names: ${named.map((v) => v.name).join(', ')}); add one named 'default'.`);
    return chosen.template;
  }
  throw new ConfigError(`${where}: chat_template must be a string or a list of { name, template }.`);
}

/** Finds the chat template source text of a model directory, or null when it has none. */
export function findChatTemplate(dir: string, tokenizerConfig: Record<string, unknown>): string | null {
  const fromConfig = fromConfigValue(tokenizerConfig.chat_template, path.join(dir, 'tokenizer_config.json'));
  if (fromConfig !== null) return fromConfig;
  const jinja = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinja)) return fs.readFileSync(jinja, 'utf8');
  const json = path.join(dir, 'chat_template.json');
  if (fs.existsSync(json)) return fromConfigValue((JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, unknown>).chat_template, json);
  return null;
}

export interface TemplateVariables {
  readonly bosToken: string;
  readonly eosToken: string;
}

/** A parsed chat template. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(source: string, private readonly vars: TemplateVariables, where: string) {
    try {
      this.template = new Template(source);
    } catch (cause) {
      throw new ConfigError(`The chat template of ${where} does not parse: ${(cause as Error).message}`, { cause });
    }
  }

  /** Renders; a template error (e.g. its `raise_exception('roles must alternate')`) becomes a RequestError. */
  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
    try {
      return this.template.render({
        messages: messages.map((m) => ({ ...m })),
        add_generation_prompt: addGenerationPrompt,
        bos_token: this.vars.bosToken,
        eos_token: this.vars.eosToken,
      });
    } catch (cause) {
      throw new RequestError(`The model's chat template rejected the messages: ${(cause as Error).message}`, 'messages');
    }
  }
}
