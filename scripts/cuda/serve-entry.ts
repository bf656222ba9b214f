/**
 * `kiln serve` for the device bench, bundled: the same startServer, with the KV budget the offline
 * benches use (the CLI has no --kv_cache_bytes) and the engine on the main thread (the worker's
 * script path does not survive bundling). Usage: node serve.mjs ENGINE_DIR PORT KV_BYTES
 */
import { startServer } from '../../src/server/serve.js';

const [engineDir, port, kv] = process.argv.slice(2);
startServer({ engineDir: engineDir!, port: Number(port), kvCacheBytes: Number(kv), inProcess: true, logger: false }).then(
  (s) => { process.stderr.write(`serving ${engineDir} on port ${s.port}\n`); },
  (e: unknown) => { console.error(e); process.exit(1); },
);
