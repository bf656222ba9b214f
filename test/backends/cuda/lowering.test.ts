import { describe, expect, it } from 'vitest';
import { assertLowerable, lowerGraph } from '../../../src/backends/cuda/lowering.js';
import type { Attrs, GraphDef } from '../../../src/graph/types.js';
import { BackendError } from '../../../src/errors/index.js';

/** A graph of the given ops (tensors are irrelevant to lowering). */
function graphOf(nodes: readonly [string, Attrs, string?][]): GraphDef {
  return { tensors: [], inputs: [], outputs: [], nodes: nodes.map(([op, attrs, name], id) => ({ id, op, attrs, inputs: [], outputs: [], ...(name ? { name } : {}) })) };
}

describe('lowerGraph', () => {
  it('maps a Llama layer onto cuBLASLt GEMMs and Kiln kernels', () => {
    const g = graphOf([
      ['embedding', {}], ['add_rmsnorm', { eps: 1e-5 }],
      ['fused_matmul', { transposeB: true, hasBias: true, activation: 'none' }],
      ['rope', {}], ['attention', {}], ['matmul', { transposeB: true }],
      ['fused_matmul', { transposeB: true, hasBias: true, activation: 'gelu' }],
      ['fused_matmul', { transposeB: true, hasBias: false, activation: 'relu' }],
      ['silu_mul', {}], ['reshape', {}],
    ]);
    const { steps, unsupported } = lowerGraph(g);
    expect(unsupported).toEqual([]);
    expect(steps.map((s) => (s.impl === 'gemm' ? `gemm:${s.epilogue}` : s.impl === 'kernel' ? s.kernels.join('+') : 'view'))).toEqual([
      'embedding', 'add_rmsnorm', 'gemm:bias', 'rope_write_kv', 'attention_prefill+attention_decode+attention_decode_combine',
      'gemm:none', 'gemm:gelu_bias', 'gemm:relu', 'silu_mul', 'view',
    ]);
  });

  it('lists every node it cannot run, with the reason', () => {
    const g = graphOf([
      ['softmax', {}, 'layers.0.probs'],
      ['matmul', {}, 'layers.0.x'],
      ['fused_matmul', { transposeB: true, activation: 'silu' }, 'layers.0.gate'],
    ]);
    expect(lowerGraph(g).unsupported).toEqual([
      "layers.0.probs: op 'softmax' has no CUDA kernel yet",
      'layers.0.x: matmul without transposeB (weights must be [N, K])',
      'layers.0.gate: fused_matmul with a SiLU epilogue (cuBLASLt has none)',
    ]);
    expect(() => assertLowerable(g)).toThrow(BackendError);
    expect(() => assertLowerable(g)).toThrow(/^CUDA backend cannot run this engine: layers\.0\.probs: op 'softmax'/);
  });
});
