/** Progress bars for long CLI work (conversion, builds, batched runs), on stderr. */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total: number, label?: string): void;
  stop(): void;
}

/** A bar when stderr is a terminal; otherwise a line per ~10% so logs stay readable. */
export function createProgress(title: string): Progress {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${title} [{bar}] {percentage}% | {value}/{total} {label}`, stream: process.stderr, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(done, total, label = '') {
        if (!started) { bar.start(total, done, { label }); started = true; }
        bar.setTotal(total);
        bar.update(done, { label });
      },
      stop() { if (started) bar.stop(); },
    };
  }
  let lastDecile = -1;
  return {
    update(done, total) {
      const decile = total > 0 ? Math.floor((10 * done) / total) : 10;
      if (decile !== lastDecile) {
        lastDecile = decile;
        process.stderr.write(`${title}: ${done}/${total}\n`);
      }
    },
    stop() {},
  };
}
