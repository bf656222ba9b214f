/**
 * The first step of the CUDA ExecutionContext (not written yet): which graph nodes the CUDA backend
 * runs and with what (a cuBLASLt GEMM, one of the Kiln kernels, or a zero-copy view), as plain data,
 * checked before any device work so an unsupported graph fails at load with one clear error.
 */
import { BackendError } from '../../errors/index.js';
import { activationAttr } from '../../graph/ops/index.js';
import type { GraphDef, NodeDef } from '../../graph/types.js';
import type { GemmEpilogue } from './gemm.js';
import type { KernelEntry } from './kernel-set.js';

export type LoweredStep =
  | { readonly node: number; readonly op: string; readonly impl: 'gemm'; readonly epilogue: GemmEpilogue }
  | { readonly node: number; readonly op: string; readonly impl: 'kernel'; readonly kernels: readonly KernelEntry[] }
  | { readonly node: number; readonly op: string; readonly impl: 'view' };

const KERNEL_OPS: Readonly<Record<string, readonly KernelEntry[]>> = {
  embedding: ['embedding'],
  rmsnorm: ['add_rmsnorm'],
  add_rmsnorm: ['add_rmsnorm'],
  silu_mul: ['silu_mul'],
  rope: ['rope_write_kv'],
  attention: ['attention_prefill', 'attention_decode', 'attention_decode_combine'],
};

/** Ops that only reinterpret a contiguous buffer (row-major, no data movement). */
const VIEW_OPS = new Set(['reshape']);

/** The cuBLASLt epilogue for a matmul node, or a reason it has none. */
function gemmEpilogue(node: NodeDef): GemmEpilogue | string {
  if (node.attrs['transposeB'] !== true) return 'matmul without transposeB (weights must be [N, K])';
  if (node.op === 'matmul') return 'none';
  const act = activationAttr(node.op, node.attrs);
  const bias = node.attrs['hasBias'] === true;
  if (act === 'silu') return 'fused_matmul with a SiLU epilogue (cuBLASLt has none)';
  if (act === 'none') return bias ? 'bias' : 'none';
  return bias ? `${act}_bias` : act;
}

function lowerNode(node: NodeDef): LoweredStep | string {
  if (node.op === 'matmul' || node.op === 'fused_matmul') {
    const e = gemmEpilogue(node);
    return e === 'none' || e === 'bias' || e === 'relu' || e === 'relu_bias' || e === 'gelu' || e === 'gelu_bias'
      ? { node: node.id, op: node.op, impl: 'gemm', epilogue: e } : e;
  }
  const kernels = KERNEL_OPS[node.op];
  if (kernels) return { node: node.id, op: node.op, impl: 'kernel', kernels };
  if (VIEW_OPS.has(node.op)) return { node: node.id, op: node.op, impl: 'view' };
  return `op '${node.op}' has no CUDA kernel yet`;
}

/** One step per node, in graph order; `unsupported` lists each node the backend cannot run, with why. */
export function lowerGraph(graph: GraphDef): { steps: LoweredStep[]; unsupported: string[] } {
  const steps: LoweredStep[] = [];
  const unsupported: string[] = [];
  for (const node of graph.nodes) {
    const r = lowerNode(node);
    if (typeof r === 'string') unsupported.push(`${node.name ?? `node ${node.id}`}: ${r}`);
    else steps.push(r);
  }
  return { steps, unsupported };
}

/** Throws `BackendError` naming the first few unsupported nodes. */
export function assertLowerable(graph: GraphDef): LoweredStep[] {
  const { steps, unsupported } = lowerGraph(graph);
  if (unsupported.length > 0) {
    const shown = unsupported.slice(0, 5).join('; ');
    const more = unsupported.length > 5 ? ` (and ${unsupported.length - 5} more)` : '';
    throw new BackendError(`CUDA backend cannot run this engine: ${shown}${more}; rebuild it with --target cpu or with the builder's fusion passes on`);
  }
  return steps;
}
