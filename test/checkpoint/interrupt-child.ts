/**
 * Run by convert.test.ts in a child process: converts MODEL_DIR → OUT_DIR and sends itself
 * SIGNAL after the third tensor, to check that nothing half-written remains.
 */
import { convertCheckpoint } from '../../src/checkpoint/convert.js';

const [modelDir, outputDir, signal] = process.argv.slice(2) as [string, string, NodeJS.Signals];
await convertCheckpoint({
  modelDir, outputDir, dtype: 'float16',
  onProgress: (done) => {
    if (done === 3) {
      process.stdout.write(`sending ${signal}\n`);
      process.kill(process.pid, signal);
    }
  },
});
process.stdout.write('finished without being interrupted\n');
