// The tsdown (Rolldown) options shared by every published library: ES modules + source maps + one
// bundled .d.ts per entry in dist/, WGSL inlined as strings, every dependency left external.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { wgslRawRolldown } from './esbuild-wgsl.mjs';

// The JavaScript maps carry the sources inline; the tarball has no src/ for declaration maps to point
// at, so none are written, and Rolldown's dangling `sourceMappingURL` line is taken off each .d.ts.
async function dropDtsMapComments(outDir) {
  for (const name of await readdir(outDir)) {
    if (!name.endsWith('.d.ts')) continue;
    const file = path.join(outDir, name);
    const text = await readFile(file, 'utf8');
    const stripped = text.replace(/\n\/\/# sourceMappingURL=\S+\.d\.ts\.map\s*$/, '\n');
    if (stripped !== text) await writeFile(file, stripped);
  }
}

/** @param {Record<string, string>} entry entry name -> source file, e.g. { index: 'src/index.ts' } */
export function libraryConfig(entry) {
  return {
    entry,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    outDir: 'dist',
    clean: true,
    sourcemap: true,
    fixedExtension: false,
    dts: { sourcemap: false },
    tsconfig: 'tsconfig.json',
    // Node built-ins stay imports (only the ./node entries use them); packages come from dependencies.
    deps: { neverBundle: [/^node:/] },
    plugins: [wgslRawRolldown],
    // The declarations name WebGPU's global types (GPUDevice, GPUBuffer...): the reference makes a
    // consumer's tsc load them from the @webgpu/types dependency.
    banner: { dts: '/// <reference types="@webgpu/types" />' },
    hooks: { 'build:done': (ctx) => dropDtsMapComments(ctx.options.outDir) },
    logLevel: 'warn',
  };
}
