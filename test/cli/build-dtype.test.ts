import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBuild } from '../../src/cli/commands/build.js';
import { convertCheckpoint, writeTinyModel } from '../../src/checkpoint/index.js';
import { loadEngine } from '../../src/engine/reader.js';
import { ConfigError } from '../../src/errors/index.js';

let tmp = '';
let ckpt = '';
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-cli-dtype-'));
  await writeTinyModel(path.join(tmp, 'hf'), { dtype: 'bfloat16' });
  ckpt = path.join(tmp, 'ckpt');
  await convertCheckpoint({ modelDir: path.join(tmp, 'hf'), outputDir: ckpt, dtype: 'bfloat16' });
});
afterAll(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

const flags = (out: string, extra: Record<string, unknown>) => ({ checkpoint_dir: ckpt, output_dir: path.join(tmp, out), target: 'cpu', max_input_len: 16, max_output_len: 16, ...extra });

describe('kiln build --dtype', () => {
  it('float16 records the dtype in the engine config and stores fp16 weights', async () => {
    await runBuild(flags('e16', { dtype: 'float16' }));
    const e = loadEngine(path.join(tmp, 'e16'), { target: 'cpu' });
    expect(e.config.build.dtype).toBe('float16');
    expect(e.weights.get('model.norm.weight').dtype).toBe('float16');
  });

  it('auto keeps the checkpoint dtype', async () => {
    await runBuild(flags('eauto', {}));
    expect(loadEngine(path.join(tmp, 'eauto'), { target: 'cpu' }).config.build.dtype).toBe('bfloat16');
  });

  it('refuses an unknown dtype and --dtype with --tp_size, naming the flags', async () => {
    await expect(runBuild(flags('ebad', { dtype: 'fp32x' }))).rejects.toThrow(ConfigError);
    await expect(runBuild(flags('ebad', { dtype: 'fp32x' }))).rejects.toThrow("--dtype must be auto, bfloat16 or float16, got 'fp32x'");
    await expect(runBuild(flags('etp', { dtype: 'float16', tp_size: 2 }))).rejects.toThrow('--dtype applies to single-rank builds for now: drop --tp_size or --dtype');
    expect(fs.existsSync(path.join(tmp, 'ebad'))).toBe(false);
  });
});
