// Runs before `pnpm pack`/`pnpm publish` of @llara/cli: the bundle, plus the demo's model and data set
// copied beside it (apps/cli/data/, git-ignored), so `npm install -g @llara/cli` then `llara demo` works
// from any folder. paths.ts finds this copy as `../data` from dist/llara.mjs.
import { cp, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { buildCli } from './build.mjs';

const cliDir = fileURLToPath(new URL('..', import.meta.url));
const repoData = fileURLToPath(new URL('../../../data', import.meta.url));

await buildCli();
await rm(`${cliDir}/data`, { recursive: true, force: true });
// The Hugging Face folder only: models/stories260K/llama2c holds the original llama2.c files (conversion
// provenance), which the CLI never reads.
await cp(`${repoData}/models/stories260K`, `${cliDir}/data/models/stories260K`, {
  recursive: true,
  filter: (src) => !src.includes('/llama2c'),
});
await cp(`${repoData}/cranfield`, `${cliDir}/data/cranfield`, { recursive: true });
await cp(`${repoData}/README.md`, `${cliDir}/data/README.md`);
