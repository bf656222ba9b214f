/**
 * BOS / EOS ids from the files a model ships: tokenizer_config.json (`bos_token`, `eos_token`:
 * a string or an AddedToken object), generation_config.json and config.json (`eos_token_id`: an
 * int or a list). A Kiln checkpoint or engine config.json holds them as `model.bosTokenId/eosTokenIds`.
 * EOS ids are the union of all sources, in that order.
 */

type Json = Record<string, unknown>;

/** The content of a token entry: `"<s>"` or `{ "content": "<s>", ... }`. */
export function tokenContent(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as Json).content === 'string') return (value as Json).content as string;
  return null;
}

function idList(value: unknown): number[] {
  if (typeof value === 'number' && Number.isInteger(value)) return [value];
  if (Array.isArray(value)) return value.filter((v): v is number => typeof v === 'number' && Number.isInteger(v));
  return [];
}

function modelSection(config: Json | null): Json | null {
  const model = config?.model;
  return model && typeof model === 'object' && !Array.isArray(model) ? (model as Json) : null;
}

export interface SpecialTokenSources {
  readonly tokenizerConfig: Json;
  readonly generationConfig: Json | null;
  readonly config: Json | null;
  readonly tokenToId: (token: string) => number | undefined;
}

export function resolveBosId(src: SpecialTokenSources): number | null {
  const content = tokenContent(src.tokenizerConfig.bos_token);
  const fromTokenizer = content === null ? undefined : src.tokenToId(content);
  if (fromTokenizer !== undefined) return fromTokenizer;
  const kiln = modelSection(src.config)?.bosTokenId;
  const candidates = [...idList(src.generationConfig?.bos_token_id), ...idList(src.config?.bos_token_id), ...idList(kiln)];
  return candidates[0] ?? null;
}

export function resolveEosIds(src: SpecialTokenSources): number[] {
  const ids: number[] = [];
  const content = tokenContent(src.tokenizerConfig.eos_token);
  const fromTokenizer = content === null ? undefined : src.tokenToId(content);
  if (fromTokenizer !== undefined) ids.push(fromTokenizer);
  ids.push(...idList(src.generationConfig?.eos_token_id), ...idList(src.config?.eos_token_id), ...idList(modelSection(src.config)?.eosTokenIds));
  return [...new Set(ids)];
}
