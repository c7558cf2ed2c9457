/**
 * The one program run on a benchmark machine (bundled by scripts/build-device-bundle.mjs into
 * .device/bundle/device-main.mjs, next to Dawn's binary; see benchmarks/gpu/run-all.sh):
 *
 *   device-main doctor [--json [FILE]]                  adapter, features, limits, chosen kernel variants
 *   device-main checks --json FILE [--smoke] [--only matmul,attention,model,training]
 *   device-main parity --dir DIR --json FILE [--repo ROOT]   GPU forward vs transformers_parity.py's files
 *   device-main bench --json FILE [--smoke | --quick] [--suite kernels,model,search] [--md FILE] [--budget-s N]
 *   device-main plan --json FILE [--smoke | --quick] [--suite kernels,model]  the PyTorch specs for torch_bench.py
 *     (--quick: the kernel and model suites on fewer 7B shapes, to fit one accelerator call; plan and
 *     bench must be given the same size flag so the PyTorch twins match)
 *   device-main index-choice --json FILE [--md FILE] [--smoke | --full]   index-choice.bench.ts
 *   device-main report --webgpu F[,F] [--torch F[,F]] [--checks F] [--parity F] --out RESULTS.md
 *
 * JSON files are rewritten after every row, so a run cut short still leaves what it measured.
 * Exit status: 0 when the command ran (check failures are in the JSON), 1 for a usage error (one
 * sentence), 2 when the command itself failed.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Gpu } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { benchMeta } from './bench-meta.ts';
import { runChecks, summarizeChecks } from './checks.ts';
import { doctor } from './doctor.ts';
import { benchIndexChoice, formatIndexChoice } from './index-choice.bench.ts';
import { runParity } from './parity.ts';
import { type ChecksFile, normalizeTorch, renderReport } from './report.ts';
import { type BenchResult, errorMessage, type Suite } from './rows.ts';
import { runBench, SUITES, torchPlan } from './run-bench.ts';

class UsageError extends Error {}

type Args = { _: string[]; flags: Map<string, string | true> };

function parseArgs(argv: string[]): Args {
  const out: Args = { _: [], flags: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') continue;
    if (a.startsWith('--')) {
      const [name, inline] = a.slice(2).split('=', 2);
      const next = argv[i + 1];
      if (inline !== undefined) out.flags.set(name, inline);
      else if (next !== undefined && !next.startsWith('--')) {
        out.flags.set(name, next);
        i++;
      } else out.flags.set(name, true);
    } else out._.push(a);
  }
  return out;
}

function str(args: Args, name: string, required = false): string | undefined {
  const v = args.flags.get(name);
  if (v === true) throw new UsageError(`--${name} needs a value.`);
  if (v === undefined && required) throw new UsageError(`--${name} is required for this command.`);
  return v;
}

function list(args: Args, name: string): string[] {
  const v = str(args, name);
  return v ? v.split(',').filter((x) => x.length > 0) : [];
}

function suites(args: Args, allowed: readonly Suite[]): Suite[] {
  const picked = list(args, 'suite');
  if (picked.length === 0) return [...allowed];
  for (const s of picked)
    if (!allowed.includes(s as Suite))
      throw new UsageError(`Unknown suite "${s}"; choose from ${allowed.join(', ')}.`);
  return picked as Suite[];
}

function sizeIsQuick(args: Args): boolean {
  if (args.flags.has('smoke') && args.flags.has('quick'))
    throw new UsageError('Use --smoke or --quick, not both.');
  return args.flags.has('quick');
}

function writeJson(file: string, data: unknown): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(data, null, 1)}\n`);
  // rename is atomic: a reader (or a killed run) never sees half a file.
  renameSync(tmp, file);
}

function readJson(file: string): unknown {
  if (!existsSync(file)) throw new UsageError(`${file} does not exist.`);
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file} is not valid JSON (${errorMessage(e)}).`);
  }
}

/** The repository root: --repo, else the nearest folder above the working directory with pnpm-workspace.yaml. */
function repoRoot(args: Args): string {
  const given = str(args, 'repo');
  if (given) return path.resolve(given);
  let dir = process.cwd();
  for (;;) {
    if (existsSync(path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

const log = (line: string) => process.stderr.write(`[device-main] ${line}\n`);

async function withGpu<T>(fn: (gpu: Gpu) => Promise<T>): Promise<T> {
  // Raw timestamps: Dawn quantizes them by default, which would round short kernels to zero.
  const gpu = await requestNodeGpu({ dawnOptions: ['disable-dawn-features=timestamp_quantization'] });
  const off = gpu.onLost((e) => log(e.message));
  try {
    return await fn(gpu);
  } finally {
    off();
    gpu.destroy();
  }
}

const command = () => `device-main ${process.argv.slice(2).join(' ')}`;

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const [cmd] = args._;
  switch (cmd) {
    case 'doctor': {
      const target = args.flags.get('json');
      const report = await withGpu(async (gpu) => doctor(gpu));
      const text = `${JSON.stringify(report, null, 1)}\n`;
      if (typeof target === 'string') writeJson(target, report);
      else process.stdout.write(text);
      return 0;
    }
    case 'checks': {
      const file = str(args, 'json', true)!;
      const smoke = args.flags.has('smoke');
      const only = list(args, 'only');
      return withGpu(async (gpu) => {
        const meta = benchMeta(gpu, smoke, command());
        const checks = await runChecks(gpu, {
          smoke,
          ...(only.length ? { only } : {}),
          onProgress: (all) => {
            writeJson(file, { meta, checks: all });
            log(`checks so far: ${summarizeChecks(all)}`);
          },
        });
        writeJson(file, { meta, checks });
        for (const c of checks) log(`${c.status.padEnd(7)} ${c.name}: ${c.detail}`);
        log(`checks: ${summarizeChecks(checks)}`);
        return 0;
      });
    }
    case 'parity': {
      const dir = str(args, 'dir', true)!;
      const file = str(args, 'json', true)!;
      const repo = repoRoot(args);
      return withGpu(async (gpu) => {
        const meta = benchMeta(gpu, false, command());
        const checks = await runParity(gpu, dir, { repo });
        writeJson(file, { meta, checks });
        for (const c of checks) log(`${c.status.padEnd(7)} ${c.name}: ${c.detail}`);
        log(`parity: ${summarizeChecks(checks)}`);
        return 0;
      });
    }
    case 'bench': {
      const file = str(args, 'json', true)!;
      const md = str(args, 'md');
      const smoke = args.flags.has('smoke');
      const quick = sizeIsQuick(args);
      const picked = suites(args, SUITES);
      const budget = str(args, 'budget-s');
      const budgetMs = budget ? Number(budget) * 1000 : undefined;
      if (budgetMs !== undefined && !(budgetMs > 0))
        throw new UsageError(`--budget-s must be a positive number, not ${budget}.`);
      const result = await withGpu((gpu) =>
        runBench(gpu, {
          smoke,
          quick,
          suites: picked,
          command: command(),
          budgetMs: budgetMs ? { kernels: budgetMs, model: budgetMs, search: budgetMs } : undefined,
          log,
          onProgress: (res, last) => {
            writeJson(file, res);
            if ('ms' in last)
              log(
                `${last.key}: ${last.ms.toFixed(3)} ms${last.tokensPerS ? `, ${last.tokensPerS.toFixed(0)} tokens/s` : ''}`,
              );
            else log(`${last.key}: ${last.error}`);
          },
        }),
      );
      writeJson(file, result);
      if (md) writeFileSync(md, renderReport({ webgpu: [result], torch: [] }));
      log(
        `bench: ${result.rows.length} rows, ${result.failures.length} not measured; wrote ${file}${md ? ` and ${md}` : ''}`,
      );
      return 0;
    }
    case 'plan': {
      const file = str(args, 'json', true)!;
      const plan = torchPlan(args.flags.has('smoke'), suites(args, ['kernels', 'model']), sizeIsQuick(args));
      writeJson(file, plan);
      log(`plan: ${plan.length} PyTorch measurements written to ${file}`);
      return 0;
    }
    case 'index-choice': {
      const file = str(args, 'json', true)!;
      const md = str(args, 'md');
      if (args.flags.has('smoke') && args.flags.has('full'))
        throw new UsageError('Use --smoke or --full, not both.');
      const size = args.flags.has('smoke') ? 'smoke' : args.flags.has('full') ? 'full' : 'default';
      const result = await withGpu((gpu) =>
        benchIndexChoice(gpu, { size, log, onProgress: (res) => writeJson(file, res) }),
      );
      writeJson(file, result);
      if (md) writeFileSync(md, `${formatIndexChoice(result)}\n`);
      log(
        `index-choice: ${result.rows.length} rows, ${result.skipped.length} not measured; wrote ${file}${md ? ` and ${md}` : ''}`,
      );
      return 0;
    }
    case 'report': {
      const out = str(args, 'out', true)!;
      const webgpu = list(args, 'webgpu').map((f) => readJson(f) as BenchResult);
      const torch = list(args, 'torch').map((f) => normalizeTorch(readJson(f), f));
      const checks = list(args, 'checks').map((f) => readJson(f) as ChecksFile);
      const parity = list(args, 'parity').map((f) => readJson(f) as ChecksFile);
      if (webgpu.length + checks.length + parity.length === 0)
        throw new UsageError('report needs at least one of --webgpu, --checks or --parity.');
      writeFileSync(out, renderReport({ webgpu, torch, checks, parity }));
      log(`report written to ${out}`);
      return 0;
    }
    default:
      throw new UsageError(
        `Unknown command "${cmd ?? ''}"; use doctor, checks, parity, bench, plan, index-choice or report (see the top of device-main.ts).`,
      );
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`${errorMessage(e)}\n`);
    if (!(e instanceof UsageError) && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    process.exit(e instanceof UsageError ? 1 : 2);
  },
);
