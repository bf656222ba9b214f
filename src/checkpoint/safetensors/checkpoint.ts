/**
 * `openCheckpoint(dir | file)`: one view over a single safetensors file, a directory of them, or a
 * sharded checkpoint described by `model.safetensors.index.json`. Tensors are read lazily.
 * Structurally a `WeightStore` (engine/types.ts): `names()`, `get()`, `has()`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { HostTensor } from '../../backends/types.js';
import type { DType } from '../../graph/types.js';
import type { WeightStore } from '../../engine/types.js';
import { CheckpointError } from '../../errors/index.js';
import type { TensorEntry } from './format.js';
import { SafetensorsFile } from './reader.js';

export interface TensorInfo {
  readonly dtype: DType;
  readonly shape: readonly number[];
}

const indexSchema = z.object({
  metadata: z.record(z.string(), z.unknown()).optional(),
  weight_map: z.record(z.string(), z.string()),
});

/** An open checkpoint. Owns file descriptors: call `dispose()` when done. */
export class SafetensorsCheckpoint implements WeightStore {
  private readonly files: SafetensorsFile[];
  private readonly where = new Map<string, { file: SafetensorsFile; entry: TensorEntry }>();
  /** `__metadata__` of the first file. */
  readonly metadata: Readonly<Record<string, string>>;

  constructor(files: SafetensorsFile[], weightMap?: ReadonlyMap<string, SafetensorsFile>) {
    this.files = files;
    this.metadata = files[0]?.header.metadata ?? {};
    if (weightMap) {
      for (const [name, file] of weightMap) {
        const entry = file.header.tensors.get(name);
        if (!entry) throw new CheckpointError(`The index maps tensor '${name}' to ${file.path}, but that file does not contain it; the checkpoint is incomplete or the index is stale.`);
        this.where.set(name, { file, entry });
      }
      return;
    }
    for (const file of files) {
      for (const [name, entry] of file.header.tensors) {
        const prev = this.where.get(name);
        if (prev) throw new CheckpointError(`Tensor '${name}' is in both ${prev.file.path} and ${file.path}; keep one copy.`);
        this.where.set(name, { file, entry });
      }
    }
  }

  names(): readonly string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  info(name: string): TensorInfo {
    const { entry } = this.locate(name);
    return { dtype: entry.dtype, shape: entry.shape };
  }

  /** Reads one tensor from disk (a fresh buffer each call; the caller owns it). */
  read(name: string): HostTensor {
    const { file, entry } = this.locate(name);
    return file.read(entry);
  }

  /** WeightStore alias of `read`. */
  get(name: string): HostTensor {
    return this.read(name);
  }

  /** The files this checkpoint reads, in order. */
  paths(): readonly string[] {
    return this.files.map((f) => f.path);
  }

  dispose(): void {
    for (const f of this.files) f.dispose();
  }

  private locate(name: string): { file: SafetensorsFile; entry: TensorEntry } {
    const hit = this.where.get(name);
    if (!hit) throw new CheckpointError(`Tensor '${name}' is not in the checkpoint (${this.files.map((f) => f.path).join(', ')}).`);
    return hit;
  }
}

/** Opens every file, closing those already open if one fails. */
function openAll(paths: readonly string[]): SafetensorsFile[] {
  const files: SafetensorsFile[] = [];
  try {
    for (const p of paths) files.push(new SafetensorsFile(p));
  } catch (err) {
    for (const f of files) f.dispose();
    throw err;
  }
  return files;
}

function openIndexed(dir: string, indexFile: string): SafetensorsCheckpoint {
  const indexPath = path.join(dir, indexFile);
  let parsed: z.infer<typeof indexSchema>;
  try {
    parsed = indexSchema.parse(JSON.parse(fs.readFileSync(indexPath, 'utf8')));
  } catch (cause) {
    throw new CheckpointError(`${indexPath} is not a valid safetensors index (expected { "weight_map": { tensor: file } }).`, { cause });
  }
  const shardNames = [...new Set(Object.values(parsed.weight_map))];
  for (const shard of shardNames) {
    if (!fs.existsSync(path.join(dir, shard))) {
      throw new CheckpointError(`${indexPath} lists shard ${shard}, which is missing from ${dir}; download the complete checkpoint.`);
    }
  }
  const files = openAll(shardNames.map((s) => path.join(dir, s)));
  const byShard = new Map(shardNames.map((s, i) => [s, files[i]!]));
  const weightMap = new Map(Object.entries(parsed.weight_map).map(([name, shard]) => [name, byShard.get(shard)!]));
  try {
    return new SafetensorsCheckpoint(files, weightMap);
  } catch (err) {
    for (const f of files) f.dispose();
    throw err;
  }
}

function noSafetensors(dir: string, entries: readonly string[]): CheckpointError {
  if (entries.some((e) => e.endsWith('.bin') || e.endsWith('.pt') || e.endsWith('.pth'))) {
    return new CheckpointError(`${dir} holds PyTorch pickle weights (${entries.filter((e) => /\.(bin|pt|pth)$/.test(e)).join(', ')}) but no .safetensors; Kiln reads safetensors only. Re-save it in Python: model.save_pretrained(dir, safe_serialization=True).`);
  }
  return new CheckpointError(`${dir} contains no .safetensors files; point Kiln at a Hugging Face model directory or a safetensors file.`);
}

/**
 * Opens a checkpoint: a `.safetensors` file, or a directory with `*.safetensors.index.json`
 * (sharded) or one or more `.safetensors` files. Throws CheckpointError with what to do.
 */
export function openCheckpoint(target: string): SafetensorsCheckpoint {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(target);
  } catch {
    throw new CheckpointError(`Checkpoint path ${target} does not exist.`);
  }
  if (stat.isFile()) return new SafetensorsCheckpoint(openAll([target]));
  const entries = fs.readdirSync(target).sort();
  const index = entries.find((e) => e === 'model.safetensors.index.json') ?? entries.find((e) => e.endsWith('.safetensors.index.json'));
  if (index) return openIndexed(target, index);
  const shards = entries.filter((e) => e.endsWith('.safetensors'));
  if (shards.length === 0) throw noSafetensors(target, entries);
  const files = openAll(shards.map((s) => path.join(target, s)));
  try {
    return new SafetensorsCheckpoint(files);
  } catch (err) {
    for (const f of files) f.dispose();
    throw err;
  }
}
