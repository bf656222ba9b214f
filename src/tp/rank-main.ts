/** Entry of a forked GPU rank process (`kiln serve --tp_size N` forks N-1 of these). */
import { tryRunAsForkedRank } from './gpu-launch.js';

tryRunAsForkedRank().then((ran) => {
  if (!ran) throw new Error('rank-main is started by the tensor-parallel launcher (KILN_TP_RANK unset)');
  process.exit(0);
}, (err: unknown) => {
  process.stderr.write(`tensor-parallel rank ${process.env['KILN_TP_RANK'] ?? '?'}: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
