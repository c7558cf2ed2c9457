import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
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
const DATA_DIR = join(repo, 'data');
/** The same name as SERVED_FILES_PATH in src/served-files.ts. */
const SERVED_FILES_URL = '/served-files.json';

const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.safetensors': 'application/octet-stream',
};

/**
 * Serves the demo adapter (when `pnpm demo` has made one) at /demo-adapter/ from the dev and preview
 * servers. It lives outside `publicDir` because it is a training output, not bundled data; the page finds
 * it in served-files.json.
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

/** The plain files directly inside `dir` (none when it does not exist). */
function filesIn(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/** Folder (under the app, ending in '/') -> its files: every bundled model, and the demo adapter when served. */
function servedFiles(adapterDir: string | null): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const models = join(DATA_DIR, 'models');
  for (const name of existsSync(models) ? readdirSync(models).sort() : []) {
    const files = filesIn(join(models, name));
    if (files.length > 0) out[`models/${name}/`] = files;
  }
  const adapter = adapterDir ? filesIn(adapterDir) : [];
  if (adapter.length > 0) out[DEMO_ADAPTER_URL.slice(1)] = adapter;
  return out;
}

/**
 * Lists the optional files the page would otherwise probe for (a sharded checkpoint's index, the demo
 * adapter), so that it never asks for a missing file: every 404 is a red console error. The dev and
 * preview servers answer it live (the adapter appears when `pnpm demo` trains one); a build also gets a
 * static copy without the adapter, which only those servers serve.
 */
function servedFilesManifest(adapterDir: string): Plugin {
  const middleware: Connect.NextHandleFunction = (req, res, next) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== SERVED_FILES_URL) return next();
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Cache-Control', 'no-store');
    res.end(JSON.stringify(servedFiles(adapterDir)));
  };
  return {
    name: 'llara-served-files',
    configureServer: (server) => void server.middlewares.use(middleware),
    configurePreviewServer: (server) => void server.middlewares.use(middleware),
    generateBundle() {
      this.emitFile({
        type: 'asset',
        fileName: SERVED_FILES_URL.slice(1),
        source: JSON.stringify(servedFiles(null)),
      });
    },
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
  publicDir: DATA_DIR,
  plugins: [demoAdapter(DEMO_ADAPTER_DIR), servedFilesManifest(DEMO_ADAPTER_DIR)],
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
