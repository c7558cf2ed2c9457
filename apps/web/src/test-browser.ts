/**
 * Test-only: the app built and served by `vite preview`, and Debian's Chromium with the flags that give
 * it a WebGPU adapter headless (SwiftShader, compute only) and keep it off the network. Shared by the
 * demo page's and the benchmark page's browser tests.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { build, preview } from 'vite';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const configFile = join(appDir, 'vite.config.ts');

export const CHROMIUM = process.env.LLARA_CHROMIUM || '/usr/bin/chromium';
// What gives a WebGPU adapter (SwiftShader, compute only) in headless Debian Chromium 156 as root; the
// rest keeps the browser from reaching the network. SwiftShader is Chromium's own software Vulkan, so
// no Vulkan/Mesa flags are needed.
export const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface ServedApp {
  /** The preview server's base URL, ending in '/'. */
  url: string;
  browser: Browser;
  close(): Promise<void>;
}

/** Builds the app into a temporary folder, serves it on a free port and starts Chromium. */
export async function serveApp(): Promise<ServedApp> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} does not exist: install Debian's chromium (apt-get install chromium) or set LLARA_CHROMIUM to a Chromium binary.`,
    );
  const outDir = mkdtempSync(join(tmpdir(), 'llara-web-dist-'));
  await build({ configFile, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  const server = await preview({
    configFile,
    logLevel: 'warn',
    build: { outDir },
    preview: { host: '127.0.0.1', port: 0, strictPort: false },
  });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('vite preview reported no local URL.');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  return {
    url,
    browser,
    async close() {
      await browser.close();
      await server.close();
      rmSync(outDir, { recursive: true, force: true });
    },
  };
}
