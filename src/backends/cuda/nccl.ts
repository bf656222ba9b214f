/**
 * NCCL bindings for tensor parallelism on GPUs (one process or thread per GPU): unique-id
 * exchange, communicator init, all-reduce / all-gather on a stream, destroy. libnccl.so.2 is
 * loaded lazily, on the first `loadNccl()`; nothing here runs at import.
 *
 * NVLink SHARP / multicast stays off: `NCCL_NVLS_ENABLE=0` is set before the first communicator
 * is created (NCCL reads it at init), and Kiln never calls cuMulticastCreate.
 */
import { CudaError } from './bindings/errors.js';
import { getKoffi, type KoffiLike, type NativeFn } from './bindings/native.js';
import { BackendError } from '../../errors/index.js';

/** Bytes of `ncclUniqueId` (NCCL_UNIQUE_ID_BYTES): an opaque blob rank 0 creates and sends to the others. */
export const NCCL_UNIQUE_ID_BYTES = 128;

/** C prototypes, as koffi parses them once `ncclUniqueId` is declared (`declareNcclTypes`). */
export const NCCL_PROTOTYPES = {
  ncclGetVersion: 'int ncclGetVersion(_Out_ int *version)',
  ncclGetUniqueId: 'int ncclGetUniqueId(_Out_ ncclUniqueId *uniqueId)',
  ncclCommInitRank: 'int ncclCommInitRank(_Out_ void **comm, int nranks, ncclUniqueId commId, int rank)',
  ncclAllReduce: 'int ncclAllReduce(uint64_t sendbuff, uint64_t recvbuff, size_t count, int datatype, int op, void *comm, void *stream)',
  ncclAllGather: 'int ncclAllGather(uint64_t sendbuff, uint64_t recvbuff, size_t sendcount, int datatype, void *comm, void *stream)',
  ncclCommDestroy: 'int ncclCommDestroy(void *comm)',
  /** Sets the communicator's abort flag (kernels waiting on a dead peer exit) and frees it; needs no peer. */
  ncclCommAbort: 'int ncclCommAbort(void *comm)',
  /** The communicator's asynchronous error (ncclRemoteError when a peer failed, ncclInProgress while non-blocking work runs). */
  ncclCommGetAsyncError: 'int ncclCommGetAsyncError(void *comm, _Out_ int *asyncError)',
  ncclGetErrorString: 'const char *ncclGetErrorString(int result)',
} as const;

/** ncclDataType_t and ncclRedOp_t values (nccl.h). */
export const NCCL = {
  int8: 0, uint8: 1, int32: 2, uint32: 3, int64: 4, uint64: 5, float16: 6, float32: 7, float64: 8, bfloat16: 9,
  sum: 0, prod: 1, max: 2, min: 3, avg: 4,
} as const;

export const NCCL_LIBRARY = 'libnccl.so.2';

export type NcclApi = { readonly [K in keyof typeof NCCL_PROTOTYPES]: NativeFn };

interface KoffiTypes extends KoffiLike {
  struct(name: string, def: Record<string, unknown>): unknown;
  array(type: string, n: number, hint?: 'Array' | 'Typed' | 'String'): unknown;
  resolve(name: string): unknown;
}

/** Declares `ncclUniqueId` (128 bytes) with koffi, once per process. */
export function declareNcclTypes(koffi: KoffiLike = getKoffi()): void {
  const k = koffi as KoffiTypes;
  try {
    k.resolve('ncclUniqueId');
  } catch {
    // uint8_t with the 'Array' hint: bytes in and out as numbers (a char array would decode as a string).
    k.struct('ncclUniqueId', { internal: k.array('uint8_t', NCCL_UNIQUE_ID_BYTES, 'Array') });
  }
}

/** Sets NCCL_NVLS_ENABLE=0 (NCCL reads it at communicator init): multicast stays off, whatever the environment said. */
export function disableNvls(env: NodeJS.ProcessEnv = process.env): void {
  env['NCCL_NVLS_ENABLE'] = '0';
}

let ncclCache: NcclApi | undefined;

/** libnccl.so.2 (or KILN_NCCL_LIBRARY, a path) bound (lazily, once). Throws BackendError saying what to install when it is missing. */
export function loadNccl(libName: string = process.env['KILN_NCCL_LIBRARY'] ?? NCCL_LIBRARY): NcclApi {
  if (ncclCache && libName === NCCL_LIBRARY) return ncclCache;
  disableNvls();
  const koffi = getKoffi();
  declareNcclTypes(koffi);
  let lib: { func(proto: string): NativeFn };
  try {
    lib = koffi.load(libName);
  } catch (cause) {
    throw new BackendError(`tensor parallelism on GPUs needs NCCL: ${libName} was not found; install NCCL (e.g. the nvidia-nccl-cu12 package or libnccl2) or run tp engines with --backend cpu`, { cause });
  }
  const api: Record<string, NativeFn> = {};
  for (const [name, proto] of Object.entries(NCCL_PROTOTYPES)) api[name] = lib.func(proto);
  if (libName === NCCL_LIBRARY) ncclCache = api as NcclApi;
  return api as NcclApi;
}

/** Throws CudaError when an NCCL call returned non-zero (ncclResult_t), with NCCL's own text. */
export function checkNccl(api: Pick<NcclApi, 'ncclGetErrorString'> | undefined, status: unknown, call: string): void {
  if (status === 0) return;
  const code = Number(status);
  throw new CudaError(call, code, api ? String(api.ncclGetErrorString(code)) : `ncclResult ${code}`);
}
