/** Quantization: formats and numerics, calibration, AWQ, HF importers, and the build-time hook. */
export * from './types.js';
export * from './numerics.js';
export { calibrate, type CalibrationStats } from './calibrate.js';
export { CALIBRATION_TEXTS, calibrationPrompts } from './calib-data.js';
export { searchAwqScales, AWQ_ALPHAS, type AwqResult } from './awq.js';
export { prepareQuantization, CALIB_MAX_LEN, AWQ_MAX_ROWS, type PreparedQuantization } from './build.js';
export { planQuantizedBuild, type QuantizedBuild } from './build-hook.js';
export { readCheckpointQuant, withFloatView, dequantizeStored } from './checkpoint-view.js';
export { convertQuantizedCheckpoint, detectHfQuantization } from './hf-import.js';
export { AWQ_ORDER, unpackAwq, unpackGptq, fp8WeightScale } from './hf-layouts.js';
export { parseQuantFlags, type QuantFlags } from './flags.js';
export { formatSizeReport, weightBytesByComponent, kvBytesPerToken, componentOf } from './report.js';
