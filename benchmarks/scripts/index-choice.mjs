// `node benchmarks/scripts/index-choice.mjs [--smoke | --full]`: the index-choice benchmark on this
// machine, written to benchmarks/out/index-choice.json and .md (other arguments go to
// `device-main index-choice`). It runs device-main.ts from the TypeScript sources through Vite's module
// runner (as vitest does) rather than from the esbuild bundle: LanceDB's native addon and PGlite are
// bundle externals that only @llara/index depends on, so they load only from that package's sources.
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer, createServerModuleRunner } from 'vite';

const here = fileURLToPath(new URL('..', import.meta.url));
mkdirSync(`${here}out`, { recursive: true });
const extra = process.argv.slice(2).filter((a) => a !== '--');
process.argv = [
  process.argv[0],
  'device-main',
  'index-choice',
  '--json',
  `${here}out/index-choice.json`,
  '--md',
  `${here}out/index-choice.md`,
  ...extra,
];
const server = await createServer({
  root: here,
  configFile: false,
  logLevel: 'error',
  appType: 'custom',
  server: { middlewareMode: true, hmr: false, ws: false },
  optimizeDeps: { noDiscovery: true, include: [] },
});
const runner = createServerModuleRunner(server.environments.ssr, { hmr: false });
// device-main runs the command on import and exits the process with its status.
await runner.import(`${here}src/device-main.ts`);
