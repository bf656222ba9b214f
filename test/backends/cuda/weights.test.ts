import { describe, expect, it } from 'vitest';
import { toBf16Bits } from '../../../src/backends/cuda/weights.js';
import { BackendError } from '../../../src/errors/index.js';

describe('toBf16Bits', () => {
  it('rounds float32 to nearest even and converts float16 exactly', () => {
    // 1 + 2^-8 is a bf16 tie → rounds to even (1.0, 0x3f80); 1 + 3·2^-8 rounds up to 0x3f82.
    const f32 = { dtype: 'float32' as const, shape: [3], data: new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8, -2]) };
    expect([...toBf16Bits('w', f32)]).toEqual([0x3f80, 0x3f82, 0xc000]);
    const f16 = { dtype: 'float16' as const, shape: [2], data: new Uint16Array([0x3c00, 0xc400]) }; // 1, -4
    expect([...toBf16Bits('w', f16)]).toEqual([0x3f80, 0xc080]);
  });

  it('passes bfloat16 through without a copy', () => {
    const data = new Uint16Array([0x3f80, 0x4000]);
    expect(toBf16Bits('w', { dtype: 'bfloat16', shape: [2], data })).toBe(data);
  });

  it('refuses quantized weights with a BackendError naming the tensor', () => {
    const t = { dtype: 'int8' as const, shape: [1], data: new Int8Array([1]) };
    expect(() => toBf16Bits('model.layers.0.mlp.down_proj.weight', t)).toThrow(BackendError);
    expect(() => toBf16Bits('model.layers.0.mlp.down_proj.weight', t)).toThrow(/^weight model\.layers\.0\.mlp\.down_proj\.weight is int8/);
  });
});
