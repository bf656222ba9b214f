/**
 * `--load_format dummy` on the GPU: every weight of the graph allocated and filled by a kernel (no
 * host arrays), with the values `backends/dummy-weights.ts` defines: float weights in the kernels'
 * activation dtype (bf16, or fp16 for float16 engines) by `fill_normal`; quantized codes by
 * `fill_quant_bytes`, their float32 scales by `fill_f32`, int4 zero points by a byte memset.
 */
import type { DType, GraphDef } from '../../graph/types.js';
import { dummyRule, tensorSeed, type DummyRule } from '../dummy-weights.js';
import { arg, type CudaDevice, type DeviceBuffer, type Stream } from './device.js';
import type { KernelSet } from './kernel-set.js';
import { DeviceWeights } from './weights.js';

const CODE_MODE = { fp8: 0, int8: 1, int4: 2 } as const;

/** Bytes and device dtype of a dummy weight of `n` graph elements under `rule`. */
function layoutOf(rule: DummyRule, graphDtype: DType, n: number, actDtype: DType): { bytes: number; dtype: DType } {
  switch (rule.kind) {
    case 'normal': return { bytes: 2 * n, dtype: actDtype };
    case 'f32': return { bytes: 4 * n, dtype: 'float32' };
    case 'byte': case 'codes': return { bytes: n, dtype: graphDtype };
  }
}

function launchFill(kernels: KernelSet, stream: Stream, buf: DeviceBuffer, rule: DummyRule, n: number, seed: number): void {
  const grid = { grid: [Math.min(65535, Math.max(1, Math.ceil(n / 256)))] as [number], block: [256] as [number] };
  switch (rule.kind) {
    case 'normal':
      return kernels.get('fill_normal').launch(grid, stream, [arg.ptr(buf), arg.u64(BigInt(n)), arg.i32(seed | 0), arg.f32(rule.mean), arg.f32(rule.std)]);
    case 'f32':
      return kernels.get('fill_f32').launch(grid, stream, [arg.ptr(buf), arg.u64(BigInt(n)), arg.f32(rule.value)]);
    case 'byte':
      return buf.fill(rule.value, stream);
    case 'codes':
      return kernels.get('fill_quant_bytes').launch(grid, stream,
        [arg.ptr(buf), arg.u64(BigInt(n)), arg.i32(seed | 0), arg.i32(CODE_MODE[rule.format]), arg.f32(rule.mul)]);
  }
}

export function fillDummyWeights(device: CudaDevice, stream: Stream, kernels: KernelSet, graph: GraphDef, names: readonly string[], seed: number): DeviceWeights {
  const w = new DeviceWeights();
  const byName = new Map(graph.tensors.filter((t) => t.kind === 'weight').map((t) => [t.name!, t]));
  const actDtype: DType = kernels.shapes.actDtype ?? 'bfloat16';
  try {
    for (const name of names) {
      const def = byName.get(name)!;
      const shape = def.shape.map(Number);
      const n = shape.reduce((a, b) => a * b, 1);
      const rule = dummyRule(name, def.dtype, shape.length);
      const { bytes, dtype } = layoutOf(rule, def.dtype, n, actDtype);
      const buf = device.alloc(Math.max(1, bytes));
      w.adopt(name, buf, shape, dtype);
      launchFill(kernels, stream, buf, rule, n, tensorSeed(seed, name));
    }
    stream.synchronize();
  } catch (e) {
    w.dispose();
    throw e;
  }
  return w;
}
