export * from './types.js';
export {
  ENGINE_FORMAT_VERSION, ENGINE_MAGIC, SECTION_ALIGN, CONFIG_FILE, RANK0_FILE, WEIGHT_SECTION_KIND,
  createEngineSections, rankFileName, type SectionInfo, type EngineHeader,
} from './format.js';
export { saveEngine, saveRankEngines, type SaveEngineOptions, type ExtraSection } from './writer.js';
export { loadEngine, type LoadEngineOptions, type LoadedEngine } from './reader.js';
