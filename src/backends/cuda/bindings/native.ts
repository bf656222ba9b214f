/**
 * Loads libcuda, NVRTC and cuBLASLt through koffi, lazily and once. Every function is wrapped
 * so a non-zero status throws `CudaError` naming the call; a missing library or driver throws
 * `BackendError` with one sentence saying what to do.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { BackendError } from '../../../errors/index.js';
import { CudaError } from './errors.js';
import { CUBLASLT_PROTOTYPES, DRIVER_PROTOTYPES, NVRTC_PROTOTYPES } from './prototypes.js';

/** A raw koffi function: returns the C status (or value), with out-params written into arrays. */
export type NativeFn = (...args: unknown[]) => unknown;
type Api<T> = { readonly [K in keyof T]: NativeFn };
export type DriverApi = Api<typeof DRIVER_PROTOTYPES>;
export type NvrtcApi = Api<typeof NVRTC_PROTOTYPES>;
export type CublasLtApi = Api<typeof CUBLASLT_PROTOTYPES>;

/** The subset of koffi this backend uses (typed here so nothing else imports koffi). */
export interface KoffiLike {
  load(path: string): { func(proto: string): NativeFn };
  proto(proto: string): unknown;
  address(value: unknown): bigint;
}

export const DRIVER_LIBRARY = 'libcuda.so.1';
export const NVRTC_CANDIDATES = ['/usr/local/cuda/lib64/libnvrtc.so', 'libnvrtc.so.13', 'libnvrtc.so'];
export const CUBLASLT_CANDIDATES = ['libcublasLt.so.13', '/usr/local/cuda/lib64/libcublasLt.so.13', 'libcublasLt.so'];

const unavailable = (why: string): BackendError =>
  new BackendError(`CUDA backend unavailable: ${why}; use --target cpu`);

let koffiCache: KoffiLike | undefined;
/** koffi itself (its native addon), loaded on first use. */
export function getKoffi(): KoffiLike {
  if (!koffiCache) {
    try {
      koffiCache = createRequire(import.meta.url)('koffi') as KoffiLike;
    } catch (cause) {
      throw new BackendError('CUDA backend unavailable: the koffi FFI module failed to load; reinstall dependencies or use --target cpu', { cause });
    }
  }
  return koffiCache;
}

function bind<T extends Record<string, string>>(lib: { func(proto: string): NativeFn }, protos: T): Api<T> {
  const out: Record<string, NativeFn> = {};
  for (const [name, proto] of Object.entries(protos)) out[name] = lib.func(proto);
  return out as Api<T>;
}

function loadFirst(candidates: readonly string[]): { lib: { func(proto: string): NativeFn }; path: string } | undefined {
  const koffi = getKoffi();
  for (const path of candidates) {
    if (path.startsWith('/') && !existsSync(path)) continue;
    try {
      return { lib: koffi.load(path), path };
    } catch {
      // try the next candidate
    }
  }
  return undefined;
}

let driverCache: DriverApi | undefined;
/** The driver API, after a successful `cuInit(0)`. `libName` is for tests. */
export function loadDriver(libName: string = DRIVER_LIBRARY): DriverApi {
  if (driverCache && libName === DRIVER_LIBRARY) return driverCache;
  const found = loadFirst([libName]);
  if (!found) throw unavailable(`${libName} not found (no NVIDIA driver on this machine)`);
  const api = bind(found.lib, DRIVER_PROTOTYPES);
  const status = api.cuInit(0) as number;
  if (status !== 0) {
    throw unavailable(`cuInit failed with ${driverErrorName(api, status)} (the driver found no usable GPU)`);
  }
  if (libName === DRIVER_LIBRARY) driverCache = api;
  return api;
}

let nvrtcCache: NvrtcApi | undefined;
export function loadNvrtc(): NvrtcApi {
  if (nvrtcCache) return nvrtcCache;
  const found = loadFirst(NVRTC_CANDIDATES);
  if (!found) throw unavailable(`NVRTC not found (tried ${NVRTC_CANDIDATES.join(', ')}; install the CUDA toolkit)`);
  nvrtcCache = bind(found.lib, NVRTC_PROTOTYPES);
  return nvrtcCache;
}

let ltCache: CublasLtApi | undefined;
export function loadCublasLt(): CublasLtApi {
  if (ltCache) return ltCache;
  const found = loadFirst(CUBLASLT_CANDIDATES);
  if (!found) throw unavailable(`cuBLASLt not found (tried ${CUBLASLT_CANDIDATES.join(', ')}; install the CUDA toolkit)`);
  ltCache = bind(found.lib, CUBLASLT_PROTOTYPES);
  return ltCache;
}

function driverErrorName(api: DriverApi, status: number): string {
  const name: (string | null)[] = [null];
  const text: (string | null)[] = [null];
  api.cuGetErrorName(status, name);
  api.cuGetErrorString(status, text);
  return `${name[0] ?? 'CUDA_ERROR_UNKNOWN'}: ${text[0] ?? 'unknown error'}`;
}

/** Throws `CudaError` when a driver call returned non-zero. */
export function checkCu(status: unknown, call: string): void {
  if (status === 0) return;
  const code = Number(status);
  throw new CudaError(call, code, driverCache ? driverErrorName(driverCache, code) : `CUresult ${code}`);
}

/** Throws `CudaError` when an NVRTC call returned non-zero. */
export function checkNvrtc(status: unknown, call: string, log = ''): void {
  if (status === 0) return;
  const code = Number(status);
  const text = nvrtcCache ? String(nvrtcCache.nvrtcGetErrorString(code)) : `nvrtcResult ${code}`;
  throw new CudaError(call, code, log ? `${text}\n${log}` : text);
}

/** Throws `CudaError` when a cuBLASLt call returned non-zero. */
export function checkLt(status: unknown, call: string): void {
  if (status === 0) return;
  const code = Number(status);
  const text = ltCache
    ? `${String(ltCache.cublasLtGetStatusName(code))}: ${String(ltCache.cublasLtGetStatusString(code))}`
    : `cublasStatus ${code}`;
  throw new CudaError(call, code, text);
}
