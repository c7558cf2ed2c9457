// `pnpm llara ...` / `pnpm demo ...`: rebuild the bundle (esbuild, ~0.3 s) so it always matches the
// sources, then run it in this process. pnpm passes a leading `--` through verbatim: main.ts drops it.
import { buildCli } from './build.mjs';

await buildCli();
await import('../dist/llara.mjs');
