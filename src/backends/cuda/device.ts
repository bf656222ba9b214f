/**
 * The CUDA device and the native handles it hands out. Each handle is owned by a class with
 * `dispose()`; nothing outside `backends/cuda` sees a raw device pointer.
 */
import { checkCu, getKoffi, loadDriver, type DriverApi } from './bindings/native.js';
import { CU } from './bindings/prototypes.js';

/** A device address (CUdeviceptr) as a JS number (exact below 2^53). */
export type DevicePtr = number;
type Handle = bigint | null;

/** Typed views that can be copied to and from the device. */
export type HostArray = Float32Array | Int32Array | Uint32Array | Uint16Array | Uint8Array | Int8Array | Float64Array | BigUint64Array;

/** A byte view of the same memory (koffi passes it in place). */
const bytesOf = (a: HostArray): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
/** The address of a typed array's first element (its memory stays put: V8 never moves array buffers). */
const hostAddr = (a: HostArray): number => Number(getKoffi().address(a));

/** Memory on the device. `bytes` is the allocation size; freed by `dispose()`. */
export class DeviceBuffer {
  private disposed = false;
  constructor(private readonly cu: DriverApi, readonly ptr: DevicePtr, readonly bytes: number) {}
  /** Copies `src` to the device at `byteOffset` (stream-ordered; pageable source is staged before return). */
  upload(src: HostArray, stream: Stream | null = null, byteOffset = 0): void {
    this.assertRange(byteOffset, src.byteLength);
    checkCu(this.cu.cuMemcpyHtoDAsync_v2(this.ptr + byteOffset, bytesOf(src), src.byteLength, stream?.handle ?? null), 'cuMemcpyHtoDAsync_v2');
  }
  /** Copies device bytes into `dst` and waits for the stream, so `dst` is ready on return. */
  download(dst: HostArray, stream: Stream | null = null, byteOffset = 0): void {
    this.assertRange(byteOffset, dst.byteLength);
    // By address, so a page-locked destination (CudaDevice.pinHost) gets a true DMA into its own memory.
    checkCu(this.cu.cuMemcpyDtoHAsync_v2(hostAddr(dst), this.ptr + byteOffset, dst.byteLength, stream?.handle ?? null), 'cuMemcpyDtoHAsync_v2');
    checkCu(stream ? this.cu.cuStreamSynchronize(stream.handle) : this.cu.cuCtxSynchronize(), 'cuStreamSynchronize');
  }
  /**
   * Enqueues the copy into `dst` and returns at once: `dst` must be page-locked (allocPinnedHost)
   * and is valid only after an event recorded behind the copy completes.
   */
  downloadAsync(dst: HostArray, stream: Stream, byteOffset = 0): void {
    if (dst.byteLength === 0) return;
    checkCu(this.cu.cuMemcpyDtoHAsync_v2(hostAddr(dst), this.ptr + byteOffset, dst.byteLength, stream.handle), 'cuMemcpyDtoHAsync_v2');
  }
  /** Sets every byte to `value` (0xff poisons: NaN in f32/bf16, -1 in int32). */
  fill(value: number, stream: Stream | null = null): void {
    checkCu(this.cu.cuMemsetD8Async(this.ptr, value & 0xff, this.bytes, stream?.handle ?? null), 'cuMemsetD8Async');
  }
  /** Copies `bytes` from `src` (at `srcOffset`) to this buffer (at `dstOffset`), stream-ordered. */
  copyFrom(src: DeviceBuffer, bytes: number, stream: Stream | null = null, dstOffset = 0, srcOffset = 0): void {
    this.assertRange(dstOffset, bytes);
    if (srcOffset < 0 || srcOffset + bytes > src.bytes) throw new RangeError(`copy of ${bytes} bytes at ${srcOffset} exceeds source of ${src.bytes}`);
    checkCu(this.cu.cuMemcpyDtoDAsync_v2(this.ptr + dstOffset, src.ptr + srcOffset, bytes, stream?.handle ?? null), 'cuMemcpyDtoDAsync_v2');
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    checkCu(this.cu.cuMemFree_v2(this.ptr), 'cuMemFree_v2');
  }
  private assertRange(offset: number, length: number): void {
    if (this.disposed) throw new Error('DeviceBuffer used after dispose()');
    if (offset < 0 || offset + length > this.bytes) throw new RangeError(`copy of ${length} bytes at ${offset} exceeds buffer of ${this.bytes}`);
  }
}

/** An ordered queue of device work. */
export class Stream {
  private disposed = false;
  constructor(private readonly cu: DriverApi, readonly handle: Handle) {}
  synchronize(): void {
    checkCu(this.cu.cuStreamSynchronize(this.handle), 'cuStreamSynchronize');
  }
  /** Starts recording this stream's work into a graph instead of running it. */
  beginCapture(): void {
    checkCu(this.cu.cuStreamBeginCapture_v2(this.handle, CU.STREAM_CAPTURE_MODE_THREAD_LOCAL), 'cuStreamBeginCapture_v2');
  }
  /** Ends the capture and instantiates it; the caller owns the returned executable graph. */
  endCapture(): CudaGraphExec {
    const graph: Handle[] = [null];
    checkCu(this.cu.cuStreamEndCapture(this.handle, graph), 'cuStreamEndCapture');
    const exec: Handle[] = [null];
    try {
      checkCu(this.cu.cuGraphInstantiateWithFlags(exec, graph[0], 0), 'cuGraphInstantiateWithFlags');
    } finally {
      checkCu(this.cu.cuGraphDestroy(graph[0]), 'cuGraphDestroy');
    }
    return new CudaGraphExec(this.cu, exec[0] ?? null);
  }
  dispose(): void {
    if (this.disposed || this.handle === null) return;
    this.disposed = true;
    checkCu(this.cu.cuStreamDestroy_v2(this.handle), 'cuStreamDestroy_v2');
  }
}

/** A captured, instantiated CUDA graph: replays its recorded kernels with one launch. */
export class CudaGraphExec {
  private disposed = false;
  constructor(private readonly cu: DriverApi, readonly handle: Handle) {}
  launch(stream: Stream): void {
    checkCu(this.cu.cuGraphLaunch(this.handle, stream.handle), 'cuGraphLaunch');
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    checkCu(this.cu.cuGraphExecDestroy(this.handle), 'cuGraphExecDestroy');
  }
}

/** A point in a stream; two recorded events give the elapsed device time between them. */
export class Event {
  private disposed = false;
  constructor(private readonly cu: DriverApi, readonly handle: Handle) {}
  record(stream: Stream | null = null): void {
    checkCu(this.cu.cuEventRecord(this.handle, stream?.handle ?? null), 'cuEventRecord');
  }
  synchronize(): void {
    checkCu(this.cu.cuEventSynchronize(this.handle), 'cuEventSynchronize');
  }
  /** True once the work before the record is complete; never blocks. */
  query(): boolean {
    const status = Number(this.cu.cuEventQuery(this.handle));
    if (status === CU.ERROR_NOT_READY) return false;
    checkCu(status, 'cuEventQuery');
    return true;
  }
  /** Milliseconds from `start` to this event (both recorded and complete). */
  elapsedSince(start: Event): number {
    const ms = [0];
    checkCu(this.cu.cuEventElapsedTime_v2(ms, start.handle, this.handle), 'cuEventElapsedTime_v2');
    return ms[0]!;
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    checkCu(this.cu.cuEventDestroy_v2(this.handle), 'cuEventDestroy_v2');
  }
}

/** One kernel argument, passed by value (8-byte slots). */
export type KernelArg =
  | { readonly kind: 'ptr'; readonly value: DevicePtr }
  | { readonly kind: 'i32'; readonly value: number }
  | { readonly kind: 'f32'; readonly value: number }
  | { readonly kind: 'u64'; readonly value: bigint };

export const arg = {
  ptr: (b: DeviceBuffer | DevicePtr, byteOffset = 0): KernelArg => ({ kind: 'ptr', value: (typeof b === 'number' ? b : b.ptr) + byteOffset }),
  i32: (value: number): KernelArg => ({ kind: 'i32', value }),
  f32: (value: number): KernelArg => ({ kind: 'f32', value }),
  u64: (value: bigint): KernelArg => ({ kind: 'u64', value }),
};

export interface LaunchDims {
  readonly grid: readonly [number, number?, number?];
  readonly block: readonly [number, number?, number?];
  /** Dynamic shared memory, bytes. */
  readonly smem?: number;
}

/** A `__global__` function of a loaded module. */
export class Kernel {
  constructor(private readonly cu: DriverApi, readonly name: string, readonly handle: Handle) {}
  attribute(attrib: number): number {
    const v = [0];
    checkCu(this.cu.cuFuncGetAttribute(v, attrib, this.handle), 'cuFuncGetAttribute');
    return v[0]!;
  }
  /** Registers per thread, local-memory (spill) bytes per thread, static shared bytes. */
  resources(): { registers: number; localBytes: number; staticSmem: number } {
    return {
      registers: this.attribute(CU.FUNC_ATTRIBUTE_NUM_REGS),
      localBytes: this.attribute(CU.FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES),
      staticSmem: this.attribute(CU.FUNC_ATTRIBUTE_SHARED_SIZE_BYTES),
    };
  }
  /** Raises the dynamic shared-memory limit (needed above 48 KB). */
  setMaxDynamicSmem(bytes: number): void {
    checkCu(this.cu.cuFuncSetAttribute(this.handle, CU.FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes), 'cuFuncSetAttribute');
  }
  launch(dims: LaunchDims, stream: Stream | null, args: readonly KernelArg[]): void {
    const koffi = getKoffi();
    const data = Buffer.alloc(8 * Math.max(1, args.length));
    const ptrs = Buffer.alloc(8 * Math.max(1, args.length));
    const base = koffi.address(data);
    args.forEach((a, i) => {
      if (a.kind === 'ptr') data.writeBigUInt64LE(BigInt(a.value), 8 * i);
      else if (a.kind === 'i32') data.writeInt32LE(a.value, 8 * i);
      else if (a.kind === 'f32') data.writeFloatLE(a.value, 8 * i);
      else data.writeBigUInt64LE(a.value, 8 * i);
      ptrs.writeBigUInt64LE(base + BigInt(8 * i), 8 * i);
    });
    const [gx, gy = 1, gz = 1] = dims.grid;
    const [bx, by = 1, bz = 1] = dims.block;
    const status = this.cu.cuLaunchKernel(this.handle, gx, gy, gz, bx, by, bz, dims.smem ?? 0, stream?.handle ?? null, Number(koffi.address(ptrs)), 0);
    checkCu(status, `cuLaunchKernel(${this.name})`);
  }
}

/** A loaded cubin. */
export class Module {
  private disposed = false;
  constructor(private readonly cu: DriverApi, readonly handle: Handle) {}
  getKernel(name: string): Kernel {
    const fn: Handle[] = [null];
    checkCu(this.cu.cuModuleGetFunction(fn, this.handle, name), `cuModuleGetFunction(${name})`);
    return new Kernel(this.cu, name, fn[0] ?? null);
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    checkCu(this.cu.cuModuleUnload(this.handle), 'cuModuleUnload');
  }
}

/** Facts about the GPU read once at open. */
export interface DeviceInfo {
  readonly ordinal: number;
  readonly name: string;
  readonly computeCapability: readonly [number, number];
  /** e.g. `sm_90`. */
  readonly arch: string;
  readonly numSms: number;
  readonly totalMemoryBytes: number;
  readonly l2Bytes: number;
  readonly maxSmemPerBlockOptin: number;
  readonly driverVersion: number;
}

/** The primary context of one GPU, made current on this thread. */
export class CudaDevice {
  private disposed = false;
  private constructor(readonly cu: DriverApi, readonly info: DeviceInfo, private readonly ctx: Handle) {}

  /** Opens GPU `ordinal`. Throws `BackendError` when there is no driver or GPU. */
  static open(ordinal = 0): CudaDevice {
    const cu = loadDriver();
    const count = [0];
    checkCu(cu.cuDeviceGetCount(count), 'cuDeviceGetCount');
    if (ordinal >= count[0]!) throw new RangeError(`GPU ${ordinal} requested but the driver sees ${count[0]}`);
    const dev = [0];
    checkCu(cu.cuDeviceGet(dev, ordinal), 'cuDeviceGet');
    const ctx: Handle[] = [null];
    checkCu(cu.cuDevicePrimaryCtxRetain(ctx, dev[0]), 'cuDevicePrimaryCtxRetain');
    checkCu(cu.cuCtxSetCurrent(ctx[0]), 'cuCtxSetCurrent');
    return new CudaDevice(cu, readInfo(cu, dev[0]!), ctx[0] ?? null);
  }

  memInfo(): { freeBytes: number; totalBytes: number } {
    const free = [0];
    const total = [0];
    checkCu(this.cu.cuMemGetInfo_v2(free, total), 'cuMemGetInfo_v2');
    return { freeBytes: Number(free[0]), totalBytes: Number(total[0]) };
  }
  alloc(bytes: number): DeviceBuffer {
    const p = [0];
    checkCu(this.cu.cuMemAlloc_v2(p, Math.max(bytes, 1)), `cuMemAlloc_v2(${bytes} bytes)`);
    return new DeviceBuffer(this.cu, Number(p[0]), bytes);
  }
  createStream(): Stream {
    const s: Handle[] = [null];
    checkCu(this.cu.cuStreamCreate(s, CU.STREAM_NON_BLOCKING), 'cuStreamCreate');
    return new Stream(this.cu, s[0] ?? null);
  }
  /** `timing: false` makes a lighter event for completion queries only. */
  createEvent(timing = true): Event {
    const e: Handle[] = [null];
    checkCu(this.cu.cuEventCreate(e, timing ? CU.EVENT_DEFAULT : CU.EVENT_DISABLE_TIMING), 'cuEventCreate');
    return new Event(this.cu, e[0] ?? null);
  }
  loadModule(cubin: Uint8Array): Module {
    const m: Handle[] = [null];
    checkCu(this.cu.cuModuleLoadData(m, cubin), 'cuModuleLoadData');
    return new Module(this.cu, m[0] ?? null);
  }
  synchronize(): void {
    checkCu(this.cu.cuCtxSynchronize(), 'cuCtxSynchronize');
  }
  /**
   * `bytes` of page-locked host memory, page-aligned inside a private ArrayBuffer (so its pinned
   * pages are shared with no other allocation); `dispose()` unlocks it.
   */
  allocPinnedHost(bytes: number): { readonly bytes: Uint8Array; dispose(): void } {
    const page = 4096;
    const len = Math.ceil(Math.max(bytes, 1) / page) * page;
    const raw = new Uint8Array(len + 2 * page);
    const offset = (page - (hostAddr(raw) % page)) % page;
    const view = raw.subarray(offset, offset + len);
    const pin = this.pinHost(view);
    return { bytes: view, dispose: () => pin.dispose() };
  }
  /**
   * Page-locks `array` (e.g. a large, long-lived staging array, whose memory V8 never moves) so
   * copies to and from it run at full PCIe speed; the returned handle's `dispose()` unlocks it.
   */
  pinHost(array: HostArray): { dispose(): void } {
    const addr = hostAddr(array);
    checkCu(this.cu.cuMemHostRegister_v2(addr, array.byteLength, 0), 'cuMemHostRegister_v2');
    let pinned = true;
    return {
      dispose: () => {
        if (!pinned) return;
        pinned = false;
        checkCu(this.cu.cuMemHostUnregister(addr), 'cuMemHostUnregister');
      },
    };
  }
  dispose(): void {
    if (this.disposed || this.ctx === null) return;
    this.disposed = true;
    checkCu(this.cu.cuDevicePrimaryCtxRelease_v2(this.info.ordinal), 'cuDevicePrimaryCtxRelease_v2');
  }
}

function readInfo(cu: DriverApi, dev: number): DeviceInfo {
  const attr = (a: number): number => {
    const v = [0];
    checkCu(cu.cuDeviceGetAttribute(v, a, dev), 'cuDeviceGetAttribute');
    return v[0]!;
  };
  const nameBuf = Buffer.alloc(256);
  checkCu(cu.cuDeviceGetName(nameBuf, 256, dev), 'cuDeviceGetName');
  const total = [0];
  checkCu(cu.cuDeviceTotalMem_v2(total, dev), 'cuDeviceTotalMem_v2');
  const version = [0];
  checkCu(cu.cuDriverGetVersion(version), 'cuDriverGetVersion');
  const major = attr(CU.DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
  const minor = attr(CU.DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
  return {
    ordinal: dev,
    name: nameBuf.toString('utf8', 0, Math.max(0, nameBuf.indexOf(0))),
    computeCapability: [major, minor],
    arch: `sm_${major}${minor}`,
    numSms: attr(CU.DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
    totalMemoryBytes: Number(total[0]),
    l2Bytes: attr(CU.DEVICE_ATTRIBUTE_L2_CACHE_SIZE),
    maxSmemPerBlockOptin: attr(CU.DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
    driverVersion: version[0]!,
  };
}
