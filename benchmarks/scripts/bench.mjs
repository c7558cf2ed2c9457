// `pnpm bench` (in benchmarks/, or `pnpm -r bench` / turbo from the root): every suite in smoke mode on
// whatever WebGPU adapter this machine has, written to benchmarks/out/bench.json and bench.md.
// Extra arguments go to `device-main bench` (e.g. `pnpm bench -- --suite kernels`; drop the smoke mode
// with --full on a real GPU). The bundle is rebuilt first (esbuild, well under a second).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildDeviceBundle } from './build-device-bundle.mjs';

const here = fileURLToPath(new URL('..', import.meta.url));
const bundle = await buildDeviceBundle(`${here}dist/device-main.mjs`);
mkdirSync(`${here}out`, { recursive: true });
const extra = process.argv.slice(2).filter((a) => a !== '--');
const full = extra.includes('--full');
const args = [
  bundle,
  'bench',
  '--json',
  `${here}out/bench.json`,
  '--md',
  `${here}out/bench.md`,
  ...(full ? [] : ['--smoke']),
  ...extra.filter((a) => a !== '--smoke' && a !== '--full'),
];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 2);
