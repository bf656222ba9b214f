/** Checkpoints: safetensors I/O, HF → Kiln conversion, Kiln checkpoints, the embedded tiny model. */
export { openCheckpoint, SafetensorsCheckpoint, type TensorInfo } from './safetensors/checkpoint.js';
export { writeSafetensors, type WriteEntry, type WriteOptions } from './safetensors/writer.js';
export { convertCheckpoint, type ConvertOptions, type ConvertResult, type CheckpointDType } from './convert.js';
export {
  readKilnCheckpoint, isKilnCheckpointDir, KILN_CHECKPOINT_VERSION, TOKENIZER_FILES, WEIGHTS_FILE,
  type KilnCheckpoint, type KilnCheckpointConfig,
} from './kiln-checkpoint.js';
export { writeTinyModel, type TinyModelOptions } from './tiny-model.js';
export { InterruptedError } from './atomic.js';
