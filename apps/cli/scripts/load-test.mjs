// `node apps/cli/scripts/load-test.mjs [--requests N --concurrency N --docs N ...]`: the bounded load
// test of `llara serve` by hand (src/serve/load-main.ts says what it does). Bundles the CLI and the load
// generator with esbuild first, as `pnpm llara` does, so the numbers are the shipped bundle's.
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { buildCli } from './build.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
await buildCli();
await build({
  entryPoints: [`${root}/src/serve/load-main.ts`],
  outfile: `${root}/dist/load-test.mjs`,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
});
await import('../dist/load-test.mjs');
