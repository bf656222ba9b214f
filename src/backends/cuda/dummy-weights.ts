/**
 * `--load_format dummy` on the GPU: every weight of the graph allocated as bf16 and filled by the
 * `fill_normal` kernel (no host arrays), with the values `backends/dummy-weights.ts` defines.
 */
import type { GraphDef } from '../../graph/types.js';
import { dummyInit, tensorSeed } from '../dummy-weights.js';
import { arg, type CudaDevice, type Stream } from './device.js';
import type { KernelSet } from './kernel-set.js';
import { DeviceWeights } from './weights.js';

export function fillDummyWeights(device: CudaDevice, stream: Stream, kernels: KernelSet, graph: GraphDef, names: readonly string[], seed: number): DeviceWeights {
  const w = new DeviceWeights();
  const byName = new Map(graph.tensors.filter((t) => t.kind === 'weight').map((t) => [t.name!, t]));
  try {
    for (const name of names) {
      const shape = byName.get(name)!.shape.map(Number);
      const n = shape.reduce((a, b) => a * b, 1);
      const buf = device.alloc(2 * n);
      w.adopt(name, buf, shape);
      const { mean, std } = dummyInit(name);
      kernels.get('fill_normal').launch({ grid: [Math.min(65535, Math.ceil(n / 256))], block: [256] }, stream,
        [arg.ptr(buf), arg.u64(BigInt(n)), arg.i32(tensorSeed(seed, name) | 0), arg.f32(mean), arg.f32(std)]);
    }
    stream.synchronize();
  } catch (e) {
    w.dispose();
    throw e;
  }
  return w;
}
