// `node benchmarks/scripts/make-random-7b.mjs OUT [--layers N]`: a LLaMA-2-7B-shaped folder of random
// f16 weights (two shards, ~13.5 GB; src/make-random-model.ts, command line in src/make-random-model-main.ts). Runs the TypeScript sources through
// Vite's module runner (as vitest does), so the WGSL imports of the packages resolve.
import { fileURLToPath } from 'node:url';
import { createServer, createServerModuleRunner } from 'vite';

const here = fileURLToPath(new URL('..', import.meta.url));
const server = await createServer({
  root: here,
  configFile: false,
  logLevel: 'error',
  appType: 'custom',
  server: { middlewareMode: true, hmr: false, ws: false },
  optimizeDeps: { noDiscovery: true, include: [] },
});
const runner = createServerModuleRunner(server.environments.ssr, { hmr: false });
await runner.import(`${here}src/make-random-model-main.ts`);
await server.close();
