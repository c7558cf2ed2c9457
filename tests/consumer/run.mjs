// The consumer test: what a user outside this repository does with the published packages.
//
//   pnpm test:consumer        (after `pnpm build`; CI runs it from .ci/run)
//
// 1. `pnpm pack` every library and the CLI (pnpm applies publishConfig and turns workspace:* into
//    versions), and checks what each tarball holds.
// 2. `npm install`s the tarballs (not the workspace) into a temporary project under os.tmpdir().
// 3. Runs each package README's example with plain `node` (no TypeScript loader, no bundler): a matmul
//    against its CPU reference, hidden states and two embeddings of stories260K, exact search + nDCG.
// 4. `tsc --strict` on a TypeScript consumer; publint and @arethetypeswrong/cli on every tarball.
// 5. Builds a page with plain Vite (no plugins) and runs it in headless Chromium: one embedding.
// 6. Bad input: a browser bundle importing @llara/gpu/node fails to build; without `webgpu` installed,
//    importing @llara/gpu/node names the missing package ('webgpu').
// 7. `npm install -g` of the CLI tarball (into a temporary prefix): llara --help, demo --help, doctor and
//    info (the bundled model) from an unrelated folder.
//
// The tools (tsc, vite, publint, attw, playwright-core) come from this repository's node_modules; the
// packages under test come only from the tarballs. LLARA_CONSUMER_KEEP=1 keeps the temporary folders.
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const here = fileURLToPath(new URL('.', import.meta.url));
const LIBRARIES = ['gpu', 'kernels', 'llama', 'trainer', 'index'];
const PACKAGES = [...LIBRARIES.map((n) => `packages/${n}`), 'apps/cli'];
const MODEL = join(repo, 'data/models/stories260K');
const BEIR = join(repo, 'data/cranfield');
const { LLARA_CHROMIUM, LLARA_CONSUMER_KEEP } = process.env;
const CHROMIUM = LLARA_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const started = Date.now();
const timings = [];
const temps = [];
let failures = 0;

function fail(message) {
  failures++;
  console.error(`FAIL ${message}`);
}

async function step(name, fn) {
  const t0 = Date.now();
  process.stdout.write(`\n== ${name}\n`);
  try {
    await fn();
  } catch (e) {
    fail(`${name}: ${e instanceof Error ? e.message : e}`);
  }
  timings.push([name, (Date.now() - t0) / 1000]);
}

/** Runs a command; returns its output, or throws with the command's output when it fails. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600_000, ...opts });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0 && !opts.allowFailure)
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${out.slice(-4000)}`);
  return opts.allowFailure ? { status: r.status, out } : out;
}

/** `node args...` without blocking, for checks that may run side by side. */
function runAsync(name, tool, args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (status) => resolve({ name, tool, status, out }));
  });
}

const tempDir = (prefix) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
};
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const repoBin = (pkg, bin) => join(repo, 'node_modules', pkg, bin);

// ---------------------------------------------------------------------------------------------------
const tarballs = new Map(); // package name -> tarball path
const tarDir = tempDir('llara-tarballs-');
const project = tempDir('llara-consumer-');

await step('pack every package', () => {
  for (const dir of PACKAGES) {
    const abs = join(repo, dir);
    const name = readJson(join(abs, 'package.json')).name;
    if (dir.startsWith('packages/') && !existsSync(join(abs, 'dist/index.js')))
      throw new Error(`${dir}/dist is missing: run \`pnpm build\` first.`);
    const before = new Set(readdirSync(tarDir));
    run('pnpm', ['pack', '--pack-destination', tarDir], { cwd: abs });
    const made = readdirSync(tarDir).filter((f) => !before.has(f));
    if (made.length !== 1) throw new Error(`pnpm pack in ${dir} made ${made.length} tarballs.`);
    const tgz = join(tarDir, made[0]);
    tarballs.set(name, tgz);
    const files = run('tar', ['tzf', tgz]).trim().split('\n');
    const stray = files.filter((f) => /\.test\.|fixtures\/|\.py$|\/src\/|tsconfig|vitest/.test(f));
    if (stray.length) fail(`${name}: the tarball holds files a consumer does not need: ${stray.join(', ')}`);
    const manifest = run('tar', ['xzf', tgz, '-O', 'package/package.json']);
    if (manifest.includes('workspace:')) fail(`${name}: the packed package.json still says workspace:`);
    if (manifest.includes('./src/')) fail(`${name}: the packed package.json still points at ./src/`);
    console.log(`${name}: ${files.length} files, ${made[0]}`);
  }
});

await step('npm install the tarballs into a project outside the repository', () => {
  // The same versions the workspace uses (webgpu: the CLI's dependency; @types/node: the root's).
  const webgpu = readJson(join(repo, 'apps/cli/package.json')).dependencies.webgpu;
  const typesNode = readJson(join(repo, 'package.json')).devDependencies['@types/node'];
  const deps = Object.fromEntries([...tarballs].map(([name, tgz]) => [name, `file:${tgz}`]));
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify(
      {
        name: 'llara-consumer',
        private: true,
        type: 'module',
        dependencies: { ...deps, webgpu },
        devDependencies: { '@types/node': typesNode },
      },
      null,
      2,
    ),
  );
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: project });
  for (const name of tarballs.keys())
    if (!existsSync(join(project, 'node_modules', name, 'package.json'))) fail(`${name} was not installed`);
});

/** The first ```js block of a package README: the example that must run as written. */
function readmeExample(pkg) {
  const text = readFileSync(join(repo, 'packages', pkg, 'README.md'), 'utf8');
  const m = text.match(/```js\n([\s\S]*?)```/);
  if (!m) throw new Error(`packages/${pkg}/README.md has no \`\`\`js example.`);
  return m[1];
}

// What each README example must print (beyond exiting 0), and the argument it gets.
const EXAMPLES = {
  gpu: { args: [], expect: /round trip: 1 2 3 4 5 6/ },
  kernels: { args: [], expect: /vs CPU reference: ok/ },
  llama: { args: [MODEL], expect: /tokens -> hidden states \[\d+, 64\]/ },
  trainer: { args: [MODEL], expect: /2 embeddings of 64 dims, cosine 0\.\d+/ },
  index: { args: [BEIR], expect: /ndcg@10\s+all\s+0\.\d+[\s\S]*num_q\s+all\s+225/ },
};

for (const pkg of LIBRARIES) {
  await step(`README example of @llara/${pkg} with plain node`, () => {
    const file = join(project, `example-${pkg}.mjs`);
    writeFileSync(file, readmeExample(pkg));
    const out = run(process.execPath, [file, ...EXAMPLES[pkg].args], { cwd: project });
    process.stdout.write(out.split('\n').slice(-6).join('\n'));
    if (!EXAMPLES[pkg].expect.test(out)) fail(`@llara/${pkg} example printed no ${EXAMPLES[pkg].expect}`);
  });
}

await step('tsc --strict on a TypeScript consumer', () => {
  cpSync(join(here, 'ts'), join(project, 'ts'), { recursive: true });
  run(process.execPath, [repoBin('typescript', 'bin/tsc'), '-p', join(project, 'ts/tsconfig.json')]);
  console.log('no type errors');
});

await step('publint and @arethetypeswrong/cli on every tarball', async () => {
  // Both read the tarballs themselves; they run side by side (attw type-checks each package: slow).
  const checks = [...tarballs].flatMap(([name, tgz]) => [
    // --strict: warnings count as errors.
    runAsync(name, 'publint', [repoBin('publint', 'src/cli.js'), 'run', tgz, '--strict']),
    // ESM only by design: CommonJS `require` resolutions are not required (the esm-only profile). The CLI
    // is a command with no importable entry point for attw to check.
    ...(name === '@llara/cli'
      ? []
      : [
          runAsync(name, 'attw', [
            repoBin('@arethetypeswrong/cli', 'dist/index.js'),
            tgz,
            '--profile',
            'esm-only',
            '--format',
            'table-flipped',
          ]),
        ]),
  ]);
  for (const r of await Promise.all(checks)) {
    if (r.status !== 0) fail(`${r.tool} ${r.name}:\n${r.out}`);
    else console.log(`${r.tool} ${r.name}: ok`);
  }
});

await step('a browser bundle that imports @llara/gpu/node fails at build time', async () => {
  const { build } = await import('vite');
  const root = join(project, 'web-node');
  cpSync(join(here, 'web-node'), root, { recursive: true });
  let message = '';
  try {
    await build({ root, configFile: false, logLevel: 'silent', build: { outDir: join(root, 'dist') } });
  } catch (e) {
    message = e instanceof Error ? e.message : String(e);
  }
  if (!message) throw new Error('vite built a browser bundle that imports @llara/gpu/node.');
  // Vite 8 (Rolldown): '"./node" is not exported under the conditions [..., "browser", ...] from package
  // .../@llara/gpu'; other bundlers word it differently but name the package and the entry.
  const line = message.split('\n').find((l) => /"\.\/node" is not exported.*@llara\/gpu/.test(l));
  if (!line) fail(`the build error does not name @llara/gpu and ./node:\n${message}`);
  console.log(`vite: ${line}`);
});

await step('a Vite page (no plugins) embeds a text in headless Chromium', async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} does not exist: install chromium or set LLARA_CHROMIUM.`);
  const { build, preview } = await import('vite');
  const root = join(project, 'web');
  cpSync(join(here, 'web'), root, { recursive: true });
  mkdirSync(join(root, 'public'), { recursive: true });
  cpSync(MODEL, join(root, 'public/model'), { recursive: true, filter: (src) => !src.includes('llama2c') });
  const outDir = join(root, 'dist');
  // appType 'mpa' (as apps/web): a missing file is a 404, not index.html (urlFiles probes for a
  // sharded checkpoint's model.safetensors.index.json first).
  await build({ root, configFile: false, appType: 'mpa', logLevel: 'warn', build: { outDir } });
  const server = await preview({
    root,
    configFile: false,
    appType: 'mpa',
    logLevel: 'warn',
    build: { outDir },
    preview: { host: '127.0.0.1', port: 0, strictPort: false },
  });
  const requireWeb = createRequire(join(repo, 'apps/web/package.json'));
  const { chromium } = requireWeb('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  try {
    const page = await browser.newPage();
    await page.goto(server.resolvedUrls.local[0]);
    await page.waitForFunction(() => document.title !== 'pending', null, { timeout: 180_000 });
    const text = await page.textContent('#out');
    console.log(`page: ${text}`);
    const r = (await page.title()) === 'done' ? JSON.parse(text) : null;
    if (r?.dim !== 64 || Math.abs(r.norm - 1) > 1e-3) fail(`the page did not embed the text: ${text}`);
  } finally {
    await browser.close();
    await server.close();
  }
});

await step('without webgpu installed, importing @llara/gpu/node names the package to install', () => {
  // A separate project outside `project` (whose node_modules has webgpu), with only @llara/gpu.
  const bare = tempDir('llara-consumer-bare-');
  writeFileSync(
    join(bare, 'package.json'),
    JSON.stringify({
      name: 'bare',
      private: true,
      type: 'module',
      dependencies: { '@llara/gpu': `file:${tarballs.get('@llara/gpu')}` },
    }),
  );
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: bare });
  const script = "import { requestNodeGpu } from '@llara/gpu/node'; await requestNodeGpu();";
  const r = run(process.execPath, ['--input-type=module', '-e', script], { cwd: bare, allowFailure: true });
  // Node's own sentence: Dawn is a static import of the ./node entry (loading it with import() made
  // Dawn abort at exit), so the message is Node's ERR_MODULE_NOT_FOUND naming the package.
  const line = r.out.split('\n').find((l) => /Cannot find package 'webgpu'/.test(l)) ?? '';
  console.log(line);
  if (r.status === 0 || !line) fail(`no message naming the missing package webgpu:\n${r.out}`);
});

await step('npm install -g of the CLI tarball, then llara from another folder', () => {
  // A global install into its own prefix (not the machine's), run from a folder that is neither the
  // prefix nor the repository: the bundled model and Cranfield must come from inside the package.
  const prefix = tempDir('llara-global-');
  const elsewhere = tempDir('llara-cwd-');
  run('npm', [
    'install',
    '-g',
    '--prefix',
    prefix,
    '--no-audit',
    '--no-fund',
    '--loglevel=error',
    tarballs.get('@llara/cli'),
  ]);
  const llara = join(prefix, 'bin/llara');
  const cwd = elsewhere;
  const help = run(llara, ['--help'], { cwd });
  if (!/doctor/.test(help) || !/demo/.test(help)) fail(`llara --help lists no doctor/demo:\n${help}`);
  const demoHelp = run(llara, ['demo', '--help'], { cwd });
  if (!/--steps/.test(demoHelp)) fail(`llara demo --help shows no --steps:\n${demoHelp}`);
  const doctor = run(llara, ['doctor'], { cwd });
  console.log(doctor.split('\n').slice(0, 2).join('\n'));
  const info = run(llara, ['info'], { cwd }); // the bundled model, found inside the package
  console.log(info.split('\n').slice(0, 2).join('\n'));
  if (!info.includes(join(prefix, 'lib/node_modules/@llara/cli/data/models/stories260K')))
    fail(`llara info did not use the model inside the installed package:\n${info}`);
});

// ---------------------------------------------------------------------------------------------------
console.log('\n== timings');
for (const [name, s] of timings) console.log(`${s.toFixed(1).padStart(7)} s  ${name}`);
console.log(`${((Date.now() - started) / 1000).toFixed(1).padStart(7)} s  total`);
if (LLARA_CONSUMER_KEEP) console.log(`kept ${temps.join(' ')}`);
else for (const dir of temps) rmSync(dir, { recursive: true, force: true });
if (failures) {
  console.error(`\n${failures} consumer check(s) failed.`);
  process.exit(1);
}
console.log('\nevery consumer check passed.');
