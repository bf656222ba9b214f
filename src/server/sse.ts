/**
 * Server-sent events over a fastify reply, and `primeStream`, which waits for a stream's first
 * item so a request the engine refuses still gets a plain HTTP error instead of a broken stream.
 */
import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';

export interface SseWriter {
  /** Writes `data: <json>\n\n` (a string is written as is). */
  send(data: unknown): void;
  end(): void;
}

export function openSse(reply: FastifyReply): SseWriter {
  const stream = new PassThrough();
  reply
    .header('content-type', 'text/event-stream; charset=utf-8')
    .header('cache-control', 'no-cache')
    .header('x-accel-buffering', 'no')
    .send(stream);
  return {
    send(data) {
      if (stream.destroyed || stream.writableEnded) return;
      stream.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
    },
    end() {
      if (!stream.destroyed && !stream.writableEnded) stream.end();
    },
  };
}

/**
 * Awaits the first item of `source` (so its errors surface before any header is sent) and
 * returns an iterable of all items, the first included.
 */
export async function primeStream<T>(source: AsyncIterable<T>): Promise<AsyncIterable<T>> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  let handedFirst = false;
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        if (!handedFirst) {
          handedFirst = true;
          return Promise.resolve(first);
        }
        return it.next();
      },
      return: async () => {
        await it.return?.();
        return { value: undefined, done: true };
      },
    }),
  };
}
