/** The `kiln` command line: convert, build, run, serve, bench, quickstart. */
import { Command, CommanderError } from 'commander';
import { KilnError } from '../errors/index.js';
import { normalizeFlags } from './args.js';
import { registerBench } from './commands/bench.js';
import { registerBuild } from './commands/build.js';
import { registerConvert } from './commands/convert.js';
import { registerQuickstart } from './commands/quickstart.js';
import { registerRun } from './commands/run.js';
import { registerServe } from './commands/serve.js';

export function createProgram(): Command {
  const program = new Command('kiln')
    .description('Kiln: define an LLM, compile it ahead of time into an engine, run and serve it')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerQuickstart(program);
  registerConvert(program);
  registerBuild(program);
  registerRun(program);
  registerServe(program);
  registerBench(program);
  return program;
}

/** Runs the CLI; resolves to the process exit code. Errors print one clear message, no stack. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync(normalizeFlags(argv), { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof KilnError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.KILN_DEBUG && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`);
    return 1;
  }
}
