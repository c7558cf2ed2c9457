// esbuild plugin: `import src from './x.wgsl?raw'` -> the file's text (what Vite does natively).
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export const wgslRaw = {
  name: 'wgsl-raw',
  setup(build) {
    build.onResolve({ filter: /\.wgsl\?raw$/ }, (args) => ({
      path: path.resolve(args.resolveDir, args.path.replace(/\?raw$/, '')),
      namespace: 'wgsl-raw',
    }));
    build.onLoad({ filter: /.*/, namespace: 'wgsl-raw' }, async (args) => ({
      contents: await readFile(args.path, 'utf8'),
      loader: 'text',
    }));
  },
};

/** Modules that stay outside bundles: native addons and packages that load files beside themselves. */
export const NODE_EXTERNALS = ['webgpu', '@lancedb/lancedb', '@electric-sql/*', 'pg-native'];

/**
 * The same `?raw` import for Rolldown (tsdown's bundler): the published libraries carry each WGSL file
 * as a string constant, so a consumer needs no plugin.
 */
export const wgslRawRolldown = {
  name: 'wgsl-raw',
  resolveId: {
    filter: { id: /\.wgsl\?raw$/ },
    handler(source, importer) {
      if (!importer) return null;
      return `${path.resolve(path.dirname(importer), source.replace(/\?raw$/, ''))}?raw`;
    },
  },
  load: {
    filter: { id: /\.wgsl\?raw$/ },
    async handler(id) {
      const text = await readFile(id.replace(/\?raw$/, ''), 'utf8');
      return { code: `export default ${JSON.stringify(text)};`, moduleType: 'js' };
    },
  },
};
