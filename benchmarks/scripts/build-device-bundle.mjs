// Bundles benchmarks/src/device-main.ts (every workspace package it uses, WGSL inlined) into one ESM
// file for machines without pnpm: by default <repo>/.device/bundle/device-main.mjs, beside which
// benchmarks/gpu/prepare.sh puts the `webgpu` package (kept external: it loads Dawn's native binary).
//   node benchmarks/scripts/build-device-bundle.mjs [--outfile PATH]

import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { NODE_EXTERNALS, wgslRaw } from '../../scripts/esbuild-wgsl.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

export async function buildDeviceBundle(outfile = `${root}/.device/bundle/device-main.mjs`) {
  await build({
    entryPoints: [`${root}/benchmarks/src/device-main.ts`],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: false,
    external: NODE_EXTERNALS,
    plugins: [wgslRaw],
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--outfile');
  const out = await buildDeviceBundle(i > 0 ? process.argv[i + 1] : undefined);
  console.log(`device bundle: ${out}`);
}
