import { createReadStream, existsSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Connect, defineConfig, type Plugin } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = resolve(here, '../..');

/**
 * Where `pnpm demo` writes the LoRA adapter it trains on stories260K; LLARA_DEMO_ADAPTER_DIR points the
 * servers elsewhere (the browser test serves an adapter it wrote itself).
 */
export const DEMO_ADAPTER_DIR = process.env.LLARA_DEMO_ADAPTER_DIR || join(repo, 'demo-output/adapter');
const DEMO_ADAPTER_URL = '/demo-adapter/';

const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.safetensors': 'application/octet-stream',
};

/**
 * Serves the demo adapter (when `pnpm demo` has made one) at /demo-adapter/ from the dev and preview
 * servers. It lives outside `publicDir` because it is a training output, not bundled data; the page asks
 * for it and treats a 404 as "no adapter".
 */
function demoAdapter(dir: string): Plugin {
  const middleware: Connect.NextHandleFunction = (req, res, next) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!url.pathname.startsWith(DEMO_ADAPTER_URL)) return next();
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const name = decodeURIComponent(url.pathname.slice(DEMO_ADAPTER_URL.length));
    // Only plain file names directly inside the adapter folder: no sub-paths, no way out of it.
    const file = join(dir, name);
    if (!/^[\w.-]+$/.test(name) || name.startsWith('.') || !existsSync(file) || !statSync(file).isFile())
      return notFound(res);
    const size = statSync(file).size;
    const ext = name.slice(name.lastIndexOf('.'));
    res.setHeader('Content-Type', CONTENT_TYPES[ext] ?? 'application/octet-stream');
    res.setHeader('Content-Length', String(size));
    // The adapter changes whenever the demo trains again.
    res.setHeader('Cache-Control', 'no-store');
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  };
  return {
    name: 'llara-demo-adapter',
    configureServer: (server) => void server.middlewares.use(middleware),
    configurePreviewServer: (server) => void server.middlewares.use(middleware),
  };
}

function notFound(res: ServerResponse): void {
  res.statusCode = 404;
  res.setHeader('Cache-Control', 'no-store');
  res.end('not found');
}

export default defineConfig({
  root: here,
  // No SPA fallback: a missing model file (model.safetensors.index.json, the demo adapter) must be a 404,
  // not index.html with status 200.
  appType: 'mpa',
  // The repo's bundled data (the stories260K model, the Cranfield corpus) is served as-is.
  publicDir: join(repo, 'data'),
  plugins: [demoAdapter(DEMO_ADAPTER_DIR)],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
    // Two pages: the retrieval demo and the kernel benchmarks.
    rollupOptions: { input: { main: join(here, 'index.html'), bench: join(here, 'bench.html') } },
  },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
