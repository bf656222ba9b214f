/** Errors raised by the CUDA bindings. Every failing native call becomes one of these. */
import { KilnError } from '../../../errors/index.js';

/** A CUDA driver, NVRTC or cuBLASLt call returned an error code. */
export class CudaError extends KilnError {
  /** The native function that failed, e.g. `cuMemAlloc_v2`. */
  readonly call: string;
  /** The library's numeric status code. */
  readonly status: number;
  constructor(call: string, status: number, detail: string) {
    super('cuda_error', `${call} failed with ${detail} (code ${status})`);
    this.call = call;
    this.status = status;
  }
}
