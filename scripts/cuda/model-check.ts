/**
 * Whole-model device checks of the CUDA backend (issue 5 phase 2): the HF fixtures (a, b) and the
 * Llama-3-8B-shaped model against HF BF16 (c, when KILN_HF8B_DIR names hf_llama8b.py's output).
 * Writes model-check.md and model-check.json to $OUT (or ./cuda-report). Exit code 1 on a failure.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeCuda } from '../../src/backends/cuda/index.js';
import { checkFixtures, type Row } from './check-fixtures.js';
import { checkRuntime } from './check-runtime.js';
import { checkLlama8b } from './check-llama8b.js';
import { checkQuantModels } from './check-quant-model.js';
import { checkModelDtypes } from './check-model-dtypes.js';
import { checkTp1Nccl } from '../tp/check-tp.js';

async function main(): Promise<number> {
  const outDir = process.env['OUT'] ?? 'cuda-report';
  const work = process.env['KILN_WORK'] ?? '/tmp/kiln-model-check';
  mkdirSync(outDir, { recursive: true });
  const info = probeCuda();
  const log = (l: string): void => { process.stdout.write(`${l}\n`); };
  log(`${info.name} (${info.arch}, ${info.numSms} SMs), driver ${info.driverVersion}, ${new Date().toISOString()}`);
  const rowsOut: Row[] = [];
  // Rewritten after every stage, so a device call that times out keeps the rows that finished.
  const save = (): string => {
    const md = [`## Whole-model checks: ${info.name} (${info.arch}), ${new Date().toISOString()}`, '',
      '| check | pass | detail |', '| --- | --- | --- |',
      ...rowsOut.map((r) => `| ${r.check} | ${r.pass ? 'yes' : '**no**'} | ${r.detail.replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`)].join('\n');
    writeFileSync(join(outDir, 'model-check.md'), `${md}\n`);
    writeFileSync(join(outDir, 'model-check.json'), JSON.stringify({ device: info, rows: rowsOut }, null, 1));
    return md;
  };
  const stage = async (rows: Promise<Row[]> | Row[]): Promise<void> => {
    rowsOut.push(...await rows);
    save();
  };
  const only = process.env['KILN_CHECKS'] ?? 'fixtures,llama8b,tp,dtypes,quant';
  if (only.includes('fixtures')) await stage(checkFixtures(join(work, 'fixtures'), log));
  if (only.includes('fixtures') || only.includes('runtime')) await stage(checkRuntime(join(work, 'fixtures'), log));
  if (only.includes('tp')) await stage(checkTp1Nccl(join(work, 'tp'), log));
  const hf = process.env['KILN_HF8B_DIR'];
  if (hf && only.includes('llama8b')) {
    try {
      await stage(checkLlama8b(hf, join(work, 'llama8b'), log));
    } catch (e) {
      await stage([{ check: 'llama3-8b-shaped', pass: false, detail: `threw: ${(e as Error).stack ?? String(e)}`.slice(0, 1500) }]);
    }
  }
  if (only.includes('dtypes')) await stage(checkModelDtypes(join(work, 'dtypes'), log));
  if (only.includes('quant')) await stage(checkQuantModels(join(work, 'quant'), process.env['KILN_QUANT8B'] === '0' ? undefined : hf, log).catch((e: unknown) => [{ check: 'quantized engines', pass: false, detail: `threw: ${(e as Error).stack ?? String(e)}`.slice(0, 1500) }]));
  const md = save();
  log(md);
  return rowsOut.every((r) => r.pass) ? 0 : 1;
}

main().then((c) => { process.exitCode = c; }, (e: unknown) => { console.error(e); process.exitCode = 2; });
