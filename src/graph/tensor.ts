/** The Tensor handle the functional API passes around: a tensor id in one network. */
import { ShapeError } from '../errors/index.js';
import { tryActiveNetwork } from './active.js';
import type { Network } from './network.js';
import { formatShape } from './ops/common.js';
import type { DType, Dim, Shape, TensorDef } from './types.js';

/** Seed-style declaration of a network input. */
export interface TensorInit {
  readonly name: string;
  readonly shape: readonly Dim[];
  readonly dtype: DType;
  /** Defaults to the active network (innermost `netGuard`, else the last created). */
  readonly network?: Network;
}

const WRAP = Symbol('wrap');
interface WrapInit {
  readonly [WRAP]: true;
  readonly network: Network;
  readonly def: TensorDef;
}

export class Tensor {
  readonly id: number;
  readonly shape: Shape;
  readonly dtype: DType;
  readonly name: string | undefined;
  readonly network: Network;

  /** `new Tensor({ name, shape, dtype })` adds an input named `name` to the active network. */
  constructor(init: TensorInit | WrapInit) {
    let def: TensorDef;
    if (WRAP in init) {
      this.network = init.network;
      def = init.def;
    } else {
      const network = init.network ?? tryActiveNetwork();
      if (!network) throw new ShapeError(`Tensor '${init.name}': no active network; create one (builder.createNetwork()) or use netGuard(network, fn)`);
      this.network = network;
      def = network.declareTensor('input', init.name, init.shape, init.dtype);
    }
    this.id = def.id;
    this.shape = def.shape;
    this.dtype = def.dtype;
    this.name = def.name;
  }

  /** @internal Wraps an existing tensor of `network`. */
  static wrap(network: Network, def: TensorDef): Tensor {
    return new Tensor({ [WRAP]: true, network, def });
  }

  get rank(): number {
    return this.shape.length;
  }

  toString(): string {
    return `Tensor(${this.name ?? `#${this.id}`}, ${formatShape(this.shape)}, ${this.dtype})`;
  }
}
