// Bundles the CLI (TypeScript sources of every workspace package + WGSL) into dist/llara.mjs.

import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { NODE_EXTERNALS, wgslRaw } from '../../../scripts/esbuild-wgsl.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
export async function buildCli() {
  await build({
    entryPoints: [`${root}/src/bin.ts`],
    outfile: `${root}/dist/llara.mjs`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    // Everything but Dawn is bundled. Loading fastify/prom-client from node_modules at start (external)
    // made Dawn abort at exit in every `llara doctor` run; bundled, it exits cleanly.
    external: NODE_EXTERNALS,
    plugins: [wgslRaw],
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    logLevel: 'warning',
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildCli();
