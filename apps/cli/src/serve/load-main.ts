/**
 * The load test by hand (`node apps/cli/scripts/load-test.mjs`): builds a Cranfield-subset index with
 * the CLI, then for batching on and off starts `llara serve` as a child process on 127.0.0.1 (port 0),
 * drives the bounded mixed load at it, stops it with SIGTERM (it must exit 0) and prints a markdown
 * table of throughput, p50/p99 latency and memory, plus the JSON.
 *
 * Flags: --requests N (400) --concurrency N (16) --docs N (100) --queries N (40) --time-cap S (900)
 *        --max-len N (128) --batch N[,N...] (32: the batching-on --max-batch-requests values)
 *        --rounds N (1: load rounds per server, each reporting memory before and after)
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type LoadReport, runLoad } from './load-test.ts';

const { values: a } = parseArgs({
  options: {
    requests: { type: 'string', default: '400' },
    concurrency: { type: 'string', default: '16' },
    docs: { type: 'string', default: '100' },
    queries: { type: 'string', default: '40' },
    'time-cap': { type: 'string', default: '900' },
    'max-len': { type: 'string', default: '128' },
    batch: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '1' },
  },
});
const n = (k: keyof typeof a) => Number(a[k]);

const cliPath = new URL('./llara.mjs', import.meta.url).pathname;
const data = new URL('../../../data/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'llara-load-'));
const lines = (file: string, count: number) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(0, count);
const docs = lines(join(data, 'cranfield/corpus.jsonl'), n('docs'));
const queries = lines(join(data, 'cranfield/queries.jsonl'), n('queries')).map(
  (l) => JSON.parse(l).text as string,
);
writeFileSync(join(dir, 'corpus.jsonl'), `${docs.join('\n')}\n`);
const maxLen = String(n('max-len'));
const cli = (args: string[]) =>
  execFileSync(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
process.stderr.write(`building the index of ${docs.length} Cranfield documents in ${dir}\n`);
cli(['embed', '--in', join(dir, 'corpus.jsonl'), '--out', join(dir, 'emb.npy'), '--max-len', maxLen]);
cli([
  'index',
  'build',
  '--embeddings',
  join(dir, 'emb.npy'),
  '--texts',
  join(dir, 'corpus.jsonl'),
  '--out',
  join(dir, 'index'),
]);

const MAX_INPUTS = 32;
const MAX_CHARS = 20000;

async function withServer(batch: number): Promise<LoadReport[]> {
  const child = spawn(
    process.execPath,
    [
      cliPath,
      'serve',
      '--port',
      '0',
      '--index',
      join(dir, 'index'),
      '--max-len',
      maxLen,
      '--max-batch-requests',
      String(batch),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line).url);
    });
    exited.then(() => reject(new Error(`llara serve exited before listening:\n${err}`)));
  });
  const reports: LoadReport[] = [];
  try {
    // Later rounds on the same server show whether memory keeps growing or has settled.
    for (let round = 0; round < n('rounds'); round++)
      reports.push(
        await runLoad({
          url,
          requests: n('requests'),
          concurrency: n('concurrency'),
          timeCapMs: n('time-cap') * 1000,
          passages: docs.map((l) => {
            const d = JSON.parse(l);
            return { title: d.title, text: d.text };
          }),
          queries,
          maxInputs: MAX_INPUTS,
          maxInputChars: MAX_CHARS,
          search: true,
          seed: round + 1,
        }),
      );
    return reports;
  } finally {
    child.kill('SIGTERM');
    const code = await exited;
    if (code !== 0) process.stderr.write(`llara serve exited with ${code} after SIGTERM:\n${err}\n`);
  }
}

const mb = (b: number) => (b / 2 ** 20).toFixed(1);
const rows: string[] = [];
const reports: Record<string, LoadReport> = {};
const configs: [string, number][] = [
  ...String(a.batch)
    .split(',')
    .map((b): [string, number] => [`on (${b})`, Number(b)]),
  ['off (1)', 1],
];
for (const [name, batch] of configs) {
  process.stderr.write(
    `batching ${name} (--max-batch-requests ${batch}): ${a.requests} requests, ${a.concurrency} clients\n`,
  );
  for (const [round, r] of (await withServer(batch)).entries()) {
    reports[`${name} round ${round + 1}`] = r;
    const ok = Object.values(r.perKind).reduce((s, k) => s + k.ok, 0);
    rows.push(
      `| ${name} | ${round + 1} | ${r.requests} | ${ok} | ${r.failures.length} | ${r.requestsPerSecond.toFixed(2)} | ${r.inputsPerSecond.toFixed(2)} | ${r.p50Ms.toFixed(0)} | ${r.p99Ms.toFixed(0)} | ${mb(r.memoryBefore.rssBytes)} -> ${mb(r.memoryAfter.rssBytes)} | ${mb(r.memoryBefore.heapUsedBytes)} -> ${mb(r.memoryAfter.heapUsedBytes)} | ${mb(r.memoryBefore.gpuInUseBytes)} -> ${mb(r.memoryAfter.gpuInUseBytes)} / ${mb(r.memoryBefore.gpuAllocatedBytes)} -> ${mb(r.memoryAfter.gpuAllocatedBytes)} |`,
    );
    for (const f of r.failures) process.stderr.write(`  wrong: ${f}\n`);
  }
}
console.log(
  `${new Date().toISOString().slice(0, 10)}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${docs.length} documents, ${queries.length} queries, --max-len ${maxLen}\n`,
);
console.log(
  '| batching (--max-batch-requests) | round | requests | right | wrong | requests/s | inputs/s | p50 ms | p99 ms | RSS MiB | heap MiB | GPU pool in use / allocated MiB |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(r);
console.log(`\n${JSON.stringify(reports)}`);
process.exitCode = Object.values(reports).some((r) => r.failures.length > 0) ? 1 : 0;
