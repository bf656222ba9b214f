/**
 * Atomic directory output: everything is written into a sibling temp directory that is renamed
 * onto the destination at the end. While that runs, SIGINT/SIGTERM mark the job interrupted; the
 * job stops at its next check, the temp directory is removed, and the signal is raised again so
 * the process ends as it would have. Nothing half-written remains.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointError, KilnError } from '../errors/index.js';

/** Thrown inside a job when SIGINT/SIGTERM arrived. */
export class InterruptedError extends KilnError {
  constructor(readonly signal: NodeJS.Signals) {
    super('interrupted', `Interrupted by ${signal}; nothing was written.`);
  }
}

export interface AtomicJob {
  /** The temp directory to write into (exists, empty). */
  readonly tempDir: string;
  /** Throws InterruptedError when a signal arrived; call between units of work. */
  checkInterrupted(): void;
}

function removeOldSibling(dest: string): string | null {
  if (!fs.existsSync(dest)) return null;
  const old = `${dest}.kiln-old-${process.pid}-${Date.now()}`;
  fs.renameSync(dest, old);
  return old;
}

/** Replaces `dest` with `tempDir` (two renames; the old one is deleted after). */
function commit(tempDir: string, dest: string): void {
  const old = removeOldSibling(dest);
  try {
    fs.renameSync(tempDir, dest);
  } catch (err) {
    if (old) fs.renameSync(old, dest);
    throw err;
  }
  if (old) fs.rmSync(old, { recursive: true, force: true });
}

/**
 * Runs `job` with a fresh sibling temp dir of `dest`, then renames it onto `dest`.
 * On any error or signal the temp dir is removed and `dest` is untouched.
 */
export async function writeDirAtomically<T>(dest: string, job: (ctx: AtomicJob) => Promise<T>): Promise<T> {
  const parent = path.dirname(path.resolve(dest));
  fs.mkdirSync(parent, { recursive: true });
  const tempDir = fs.mkdtempSync(path.join(parent, `.${path.basename(dest)}.kiln-tmp-`));
  let signal: NodeJS.Signals | null = null;
  const onSignal = (s: NodeJS.Signals) => { signal = s; };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const ctx: AtomicJob = {
    tempDir,
    checkInterrupted: () => { if (signal) throw new InterruptedError(signal); },
  };
  try {
    const result = await job(ctx);
    ctx.checkInterrupted();
    commit(tempDir, dest);
    return result;
  } finally {
    fs.rmSync(tempDir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (signal) process.kill(process.pid, signal);
  }
}

/** Throws unless `dest` is absent, empty, or accepted by `isReplaceable` (so we never delete a user's unrelated directory). */
export function assertReplaceable(dest: string, isReplaceable: (dir: string) => boolean, what: string): void {
  if (!fs.existsSync(dest)) return;
  if (!fs.statSync(dest).isDirectory()) throw new CheckpointError(`Output path ${dest} exists and is not a directory; choose another --output_dir.`);
  if (fs.readdirSync(dest).length === 0 || isReplaceable(dest)) return;
  throw new CheckpointError(`Output directory ${dest} exists and is not a ${what}; refusing to replace it. Choose an empty or new --output_dir.`);
}
