/** The HTTP server of `kiln serve` (OpenAI + Triton generate protocols). */
export { createServer, type CreateServerOptions, type KilnServer, type KilnControls } from './app.js';
export { startServer, ensureEngine, type StartServerOptions, type RunningServer } from './serve.js';
export { InProcessEngineClient, type EngineClient, type EngineCore, type EngineRequest, type ModelInfo } from './engine-client.js';
export { WorkerEngineClient } from './worker-client.js';
export { createInProcessClient, loadEngineCore, modelInfoOf } from './load-engine.js';
export type { EngineLoadOptions } from './protocol.js';
export { ApiError, EngineUnavailableError } from './errors.js';
