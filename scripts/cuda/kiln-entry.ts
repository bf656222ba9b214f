/** Entry of the bundled `kiln` CLI carried to the GPU machine (scripts/cuda/bundle-model-check.sh). */
import { main } from '../../src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => { console.error(err instanceof Error ? err.message : String(err)); process.exitCode = 1; },
);
