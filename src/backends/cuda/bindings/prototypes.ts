/**
 * C prototypes of every native function the CUDA backend calls, as koffi parses them.
 * Plain data: the unit tests parse each one with `koffi.proto` on machines without a GPU.
 * Device pointers (`CUdeviceptr`) and addresses are declared `uint64_t` (same ABI as a pointer
 * on x86-64), so they travel as JS numbers; opaque handles are `void *` (JS bigint).
 */

/** libcuda.so.1 (driver API). All return `CUresult`. */
export const DRIVER_PROTOTYPES = {
  cuInit: 'int cuInit(unsigned int flags)',
  cuDriverGetVersion: 'int cuDriverGetVersion(_Out_ int *version)',
  cuGetErrorName: 'int cuGetErrorName(int error, _Out_ const char **str)',
  cuGetErrorString: 'int cuGetErrorString(int error, _Out_ const char **str)',
  cuDeviceGetCount: 'int cuDeviceGetCount(_Out_ int *count)',
  cuDeviceGet: 'int cuDeviceGet(_Out_ int *device, int ordinal)',
  cuDeviceGetName: 'int cuDeviceGetName(void *name, int len, int dev)',
  cuDeviceGetAttribute: 'int cuDeviceGetAttribute(_Out_ int *value, int attrib, int dev)',
  cuDeviceTotalMem_v2: 'int cuDeviceTotalMem_v2(_Out_ size_t *bytes, int dev)',
  cuDevicePrimaryCtxRetain: 'int cuDevicePrimaryCtxRetain(_Out_ void **ctx, int dev)',
  cuDevicePrimaryCtxRelease_v2: 'int cuDevicePrimaryCtxRelease_v2(int dev)',
  cuCtxSetCurrent: 'int cuCtxSetCurrent(void *ctx)',
  cuCtxSynchronize: 'int cuCtxSynchronize()',
  cuStreamCreate: 'int cuStreamCreate(_Out_ void **stream, unsigned int flags)',
  cuStreamDestroy_v2: 'int cuStreamDestroy_v2(void *stream)',
  cuStreamSynchronize: 'int cuStreamSynchronize(void *stream)',
  cuEventCreate: 'int cuEventCreate(_Out_ void **event, unsigned int flags)',
  cuEventDestroy_v2: 'int cuEventDestroy_v2(void *event)',
  cuEventRecord: 'int cuEventRecord(void *event, void *stream)',
  cuEventSynchronize: 'int cuEventSynchronize(void *event)',
  cuEventQuery: 'int cuEventQuery(void *event)',
  cuEventElapsedTime_v2: 'int cuEventElapsedTime_v2(_Out_ float *ms, void *start, void *end)',
  cuMemAlloc_v2: 'int cuMemAlloc_v2(_Out_ uint64_t *dptr, size_t bytes)',
  cuMemFree_v2: 'int cuMemFree_v2(uint64_t dptr)',
  cuMemGetInfo_v2: 'int cuMemGetInfo_v2(_Out_ size_t *free, _Out_ size_t *total)',
  cuMemcpyHtoDAsync_v2: 'int cuMemcpyHtoDAsync_v2(uint64_t dst, const void *src, size_t bytes, void *stream)',
  cuMemcpyDtoHAsync_v2: 'int cuMemcpyDtoHAsync_v2(uint64_t dst, uint64_t src, size_t bytes, void *stream)',
  cuMemcpyDtoDAsync_v2: 'int cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t bytes, void *stream)',
  cuMemsetD8Async: 'int cuMemsetD8Async(uint64_t dst, uint8_t value, size_t count, void *stream)',
  cuMemsetD32Async: 'int cuMemsetD32Async(uint64_t dst, uint32_t value, size_t count, void *stream)',
  cuMemHostRegister_v2: 'int cuMemHostRegister_v2(uint64_t p, size_t bytes, unsigned int flags)',
  cuMemHostUnregister: 'int cuMemHostUnregister(uint64_t p)',
  cuModuleLoadData: 'int cuModuleLoadData(_Out_ void **module, const void *image)',
  cuModuleUnload: 'int cuModuleUnload(void *module)',
  cuModuleGetFunction: 'int cuModuleGetFunction(_Out_ void **fn, void *module, const char *name)',
  cuFuncSetAttribute: 'int cuFuncSetAttribute(void *fn, int attrib, int value)',
  cuFuncGetAttribute: 'int cuFuncGetAttribute(_Out_ int *value, int attrib, void *fn)',
  cuLaunchKernel:
    'int cuLaunchKernel(void *fn, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, ' +
    'unsigned int by, unsigned int bz, unsigned int smem, void *stream, uint64_t params, uint64_t extra)',
  cuStreamBeginCapture_v2: 'int cuStreamBeginCapture_v2(void *stream, int mode)',
  cuStreamEndCapture: 'int cuStreamEndCapture(void *stream, _Out_ void **graph)',
  cuGraphInstantiateWithFlags: 'int cuGraphInstantiateWithFlags(_Out_ void **exec, void *graph, uint64_t flags)',
  cuGraphLaunch: 'int cuGraphLaunch(void *exec, void *stream)',
  cuGraphExecDestroy: 'int cuGraphExecDestroy(void *exec)',
  cuGraphDestroy: 'int cuGraphDestroy(void *graph)',
} as const;

/** libnvrtc.so (runtime compilation). All but the error string return `nvrtcResult`. */
export const NVRTC_PROTOTYPES = {
  nvrtcVersion: 'int nvrtcVersion(_Out_ int *major, _Out_ int *minor)',
  nvrtcGetErrorString: 'const char *nvrtcGetErrorString(int result)',
  nvrtcCreateProgram:
    'int nvrtcCreateProgram(_Out_ void **prog, const char *src, const char *name, int numHeaders, ' +
    'const char **headers, const char **includeNames)',
  nvrtcCompileProgram: 'int nvrtcCompileProgram(void *prog, int numOptions, const char **options)',
  nvrtcGetCUBINSize: 'int nvrtcGetCUBINSize(void *prog, _Out_ size_t *size)',
  nvrtcGetCUBIN: 'int nvrtcGetCUBIN(void *prog, void *cubin)',
  nvrtcGetProgramLogSize: 'int nvrtcGetProgramLogSize(void *prog, _Out_ size_t *size)',
  nvrtcGetProgramLog: 'int nvrtcGetProgramLog(void *prog, void *log)',
  nvrtcDestroyProgram: 'int nvrtcDestroyProgram(_Inout_ void **prog)',
} as const;

/** libcublasLt.so.13. All but the version and the status strings return `cublasStatus_t`. */
export const CUBLASLT_PROTOTYPES = {
  cublasLtCreate: 'int cublasLtCreate(_Out_ void **handle)',
  cublasLtDestroy: 'int cublasLtDestroy(void *handle)',
  cublasLtGetVersion: 'size_t cublasLtGetVersion()',
  cublasLtGetStatusName: 'const char *cublasLtGetStatusName(int status)',
  cublasLtGetStatusString: 'const char *cublasLtGetStatusString(int status)',
  cublasLtMatmulDescCreate: 'int cublasLtMatmulDescCreate(_Out_ void **desc, int computeType, int scaleType)',
  cublasLtMatmulDescDestroy: 'int cublasLtMatmulDescDestroy(void *desc)',
  cublasLtMatmulDescSetAttribute:
    'int cublasLtMatmulDescSetAttribute(void *desc, int attr, const void *buf, size_t size)',
  cublasLtMatrixLayoutCreate:
    'int cublasLtMatrixLayoutCreate(_Out_ void **layout, int type, uint64_t rows, uint64_t cols, int64_t ld)',
  cublasLtMatrixLayoutDestroy: 'int cublasLtMatrixLayoutDestroy(void *layout)',
  cublasLtMatmulPreferenceCreate: 'int cublasLtMatmulPreferenceCreate(_Out_ void **pref)',
  cublasLtMatmulPreferenceDestroy: 'int cublasLtMatmulPreferenceDestroy(void *pref)',
  cublasLtMatmulPreferenceSetAttribute:
    'int cublasLtMatmulPreferenceSetAttribute(void *pref, int attr, const void *buf, size_t size)',
  cublasLtMatmulAlgoGetHeuristic:
    'int cublasLtMatmulAlgoGetHeuristic(void *handle, void *desc, void *a, void *b, void *c, void *d, ' +
    'void *pref, int requested, void *results, _Out_ int *returned)',
  cublasLtMatmul:
    'int cublasLtMatmul(void *handle, void *desc, const void *alpha, uint64_t A, void *Adesc, uint64_t B, ' +
    'void *Bdesc, const void *beta, uint64_t C, void *Cdesc, uint64_t D, void *Ddesc, const void *algo, ' +
    'uint64_t workspace, size_t workspaceBytes, void *stream)',
} as const;

/** Driver enum values used by the backend (from cuda.h, CUDA 13.0). */
export const CU = {
  DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: 1,
  DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: 16,
  DEVICE_ATTRIBUTE_L2_CACHE_SIZE: 38,
  DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: 75,
  DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: 76,
  DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: 97,
  FUNC_ATTRIBUTE_SHARED_SIZE_BYTES: 1,
  FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES: 3,
  FUNC_ATTRIBUTE_NUM_REGS: 4,
  FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: 8,
  STREAM_NON_BLOCKING: 1,
  EVENT_DEFAULT: 0,
  EVENT_DISABLE_TIMING: 2,
  ERROR_NOT_READY: 600,
  STREAM_CAPTURE_MODE_GLOBAL: 0,
  STREAM_CAPTURE_MODE_THREAD_LOCAL: 1,
} as const;

/** cuBLASLt / CUDA data-type enum values (cublasLt.h, library_types.h; CUDA 13). */
export const LT = {
  CUDA_R_32F: 0,
  CUDA_R_16F: 2,
  CUDA_R_16BF: 14,
  COMPUTE_32F: 68,
  OP_N: 0,
  OP_T: 1,
  DESC_TRANSA: 3,
  DESC_TRANSB: 4,
  DESC_EPILOGUE: 7,
  DESC_BIAS_POINTER: 8,
  PREF_MAX_WORKSPACE_BYTES: 1,
  EPILOGUE_DEFAULT: 1,
  EPILOGUE_RELU: 2,
  EPILOGUE_BIAS: 4,
  EPILOGUE_RELU_BIAS: 6,
  EPILOGUE_GELU: 32,
  EPILOGUE_GELU_BIAS: 36,
  /** sizeof(cublasLtMatmulHeuristicResult_t); its algo (64 bytes) comes first. */
  HEURISTIC_RESULT_BYTES: 96,
  ALGO_BYTES: 64,
} as const;
