import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('./run-cli.ts', import.meta.url));

export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs the kiln CLI in a child process (as a user would), from the sources via tsx. */
export function kiln(args: readonly string[], options: { input?: string } = {}): CliResult {
  const res = spawnSync(process.execPath, ['--import', 'tsx', entry, ...args], { encoding: 'utf8', input: options.input ?? '', env: { ...process.env, FORCE_COLOR: '0' } });
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

/** Like `kiln`, without blocking this process's event loop (needed when the CLI talks to a server running in the test). */
export function kilnAsync(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { env: { ...process.env, FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
