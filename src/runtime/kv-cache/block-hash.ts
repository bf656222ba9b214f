/**
 * Chained block hashes for prefix caching: a full block's key is sha256(parent key, its token ids),
 * truncated to 128 bits. Chaining makes a key name the whole prefix, not just the block's tokens,
 * and 128 bits make a collision practically impossible (a collision would serve wrong KV).
 */
import { createHash } from 'node:crypto';

export type BlockHash = string;

/** Key of a full block whose tokens are `tokenIds`, following the block keyed `parent` (null for the first). */
export function hashBlock(parent: BlockHash | null, tokenIds: readonly number[]): BlockHash {
  const h = createHash('sha256');
  h.update(parent ?? 'root');
  h.update(Buffer.from(Int32Array.from(tokenIds).buffer));
  return h.digest('hex').slice(0, 32);
}

/** Keys of every full block of `tokens` (a trailing partial block gets none). */
export function hashFullBlocks(tokens: readonly number[], tokensPerBlock: number, from: readonly BlockHash[] = []): BlockHash[] {
  const out = [...from];
  const numFull = Math.floor(tokens.length / tokensPerBlock);
  for (let i = out.length; i < numFull; i++) {
    const parent = i === 0 ? null : (out[i - 1] ?? null);
    out.push(hashBlock(parent, tokens.slice(i * tokensPerBlock, (i + 1) * tokensPerBlock)));
  }
  return out;
}
