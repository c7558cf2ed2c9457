// Bundles the CLI (TypeScript sources of every workspace package + WGSL) into dist/llara.mjs.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { NODE_EXTERNALS, wgslRaw } from '../../../scripts/esbuild-wgsl.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
// The packed CLI's own dependencies (the HTTP server stack, Dawn) install beside it: keep them external.
const runtimeDependencies = Object.keys(
  JSON.parse(readFileSync(`${root}/package.json`, 'utf8')).dependencies,
);
export async function buildCli() {
  await build({
    entryPoints: [`${root}/src/bin.ts`],
    outfile: `${root}/dist/llara.mjs`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    external: [...NODE_EXTERNALS, ...runtimeDependencies],
    plugins: [wgslRaw],
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    logLevel: 'warning',
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildCli();
