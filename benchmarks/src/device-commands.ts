/**
 * The commands of `device-main`, the one program run on a benchmark machine (see device-main.ts and
 * benchmarks/gpu/run-all.sh):
 *
 *   device-main doctor [--json [FILE]]                  adapter, features, limits, chosen kernel variants
 *   device-main checks --json FILE [--smoke] [--only matmul,attention,model,training]
 *   device-main parity --dir DIR --json FILE [--repo ROOT]   GPU forward vs transformers_parity.py's files
 *   device-main bench --json FILE [--smoke | --quick] [--suite kernels,model,search,peers] [--md FILE] [--budget-s N]
 *     (peers: the shared kernels beside TensorFlow.js's WebGPU backend on the same device)
 *   device-main plan --json FILE [--smoke | --quick] [--suite kernels,model]  the PyTorch specs for torch_bench.py
 *     (--quick: the kernel and model suites on fewer 7B shapes, to fit one accelerator call; plan and
 *     bench must be given the same size flag so the PyTorch twins match)
 *   device-main index-choice --json FILE [--md FILE] [--smoke | --full]   index-choice.bench.ts
 *   device-main make-model --out DIR [--layers N] [--smoke]   a random LLaMA-2-7B-shaped folder (f16)
 *   device-main bench-folder --model DIR --json FILE [--ref REF] [--smoke] [--formats f16,q8,q4,nf4] [--budget-s N]
 *     (model-folder.bench.ts: the folder loaded as f16 / q8 / q4 / nf4, checked against
 *     torch_7b_reference.py's REF, embedding and a QLoRA step timed)
 *   device-main folder-plan --model DIR --json FILE [--smoke]   the PyTorch twins of bench-folder's rows
 *   device-main report --webgpu F[,F] [--torch F[,F]] [--checks F] [--parity F] --out RESULTS.md
 *
 * JSON files are rewritten after every row, so a run cut short still leaves what it measured.
 * Exit status: 0 when the command ran (check failures are in the JSON), 1 for a usage error (one
 * sentence), 2 when the command itself failed.
 *
 * ```ts
 * process.exit(await runDeviceMain(['plan', '--smoke', '--json', 'plan.json']));
 * ```
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Gpu } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import type { LlamaConfig } from '@llara/llama';
import { openModelFolder } from '@llara/llama/node';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { benchMeta } from './bench-meta.ts';
import { runChecks, summarizeChecks } from './checks.ts';
import { doctor } from './doctor.ts';
import { benchIndexChoice, formatIndexChoice } from './index-choice.bench.ts';
import { makeRandomModel } from './make-random-model.ts';
import { type BaseFormat, benchModelFolder, FOLDER_FORMATS, folderTorchPlan } from './model-folder.bench.ts';
import { runParity } from './parity.ts';
import { type ChecksFile, normalizeTorch, renderReport } from './report.ts';
import { type BenchResult, errorMessage, type Suite } from './rows.ts';
import { type RunSuite, runBench, SUITES, torchPlan } from './run-bench.ts';

class UsageError extends Error {}

const log = (line: string) => process.stderr.write(`[device-main] ${line}\n`);

/** Comma-separated values (`--suite kernels,model`). */
const commaList = (v: string) => v.split(',').filter((x) => x.length > 0);

function suiteList<S extends string>(allowed: readonly S[]) {
  return (v: string): S[] => {
    const picked = commaList(v);
    for (const s of picked)
      if (!allowed.includes(s as S))
        throw new InvalidArgumentError(`unknown suite "${s}"; choose from ${allowed.join(', ')}.`);
    return picked as S[];
  };
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!(Number.isInteger(n) && n > 0))
    throw new InvalidArgumentError(`must be a positive integer, not ${v}.`);
  return n;
}

function formatList(v: string): BaseFormat[] {
  const picked = commaList(v);
  for (const f of picked)
    if (!FOLDER_FORMATS.includes(f as BaseFormat))
      throw new InvalidArgumentError(`unknown format "${f}"; choose from ${FOLDER_FORMATS.join(', ')}.`);
  return picked as BaseFormat[];
}

function positiveSeconds(v: string): number {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError(`must be a positive number of seconds, not ${v}.`);
  return n;
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

/** The repository root: the nearest folder above the working directory with pnpm-workspace.yaml. */
function findRepoRoot(): string {
  let dir = process.cwd();
  for (;;) {
    if (existsSync(path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

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

/** `--smoke` and `--quick` (tiny shapes, or fewer 7B shapes), which exclude each other. */
function sizeOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--smoke', 'tiny shapes (CPU adapters)').conflicts('quick'))
    .addOption(new Option('--quick', 'fewer LLaMA-2-7B shapes: one accelerator call'));
}

/** The program; `command` is the command line as the report should show it. */
export function buildDeviceProgram(command: string): Command {
  const program = new Command('device-main')
    .description('Benchmarks and device checks of LLaRA on WebGPU (see benchmarks/gpu/run-all.sh).')
    .exitOverride()
    .showHelpAfterError();

  program
    .command('doctor')
    .description('adapter, features, limits, chosen kernel variants')
    .option('--json [file]', 'write JSON to FILE (stdout without one)')
    .action(async (o: { json?: string | true }) => {
      const report = await withGpu(async (gpu) => doctor(gpu));
      if (typeof o.json === 'string') writeJson(o.json, report);
      else process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
    });

  program
    .command('checks')
    .description('GPU-only correctness checks')
    .requiredOption('--json <file>', 'results, rewritten after every group')
    .option('--smoke', 'tiny shapes (CPU adapters)')
    .option('--only <groups>', 'matmul, attention, model, training (comma-separated)', commaList)
    .action(async (o: { json: string; smoke?: boolean; only?: string[] }) => {
      const smoke = !!o.smoke;
      await withGpu(async (gpu) => {
        const meta = benchMeta(gpu, smoke, command);
        const checks = await runChecks(gpu, {
          smoke,
          ...(o.only?.length ? { only: o.only } : {}),
          onProgress: (all) => {
            writeJson(o.json, { meta, checks: all });
            log(`checks so far: ${summarizeChecks(all)}`);
          },
        });
        writeJson(o.json, { meta, checks });
        for (const c of checks) log(`${c.status.padEnd(7)} ${c.name}: ${c.detail}`);
        log(`checks: ${summarizeChecks(checks)}`);
      });
    });

  program
    .command('parity')
    .description("GPU forward vs transformers_parity.py's hidden states")
    .requiredOption('--dir <dir>', 'folder of parity JSON files')
    .requiredOption('--json <file>', 'results')
    .option('--repo <root>', 'repository root (default: found from the working directory)')
    .action(async (o: { dir: string; json: string; repo?: string }) => {
      const repo = o.repo ? path.resolve(o.repo) : findRepoRoot();
      await withGpu(async (gpu) => {
        const meta = benchMeta(gpu, false, command);
        const checks = await runParity(gpu, o.dir, { repo });
        writeJson(o.json, { meta, checks });
        for (const c of checks) log(`${c.status.padEnd(7)} ${c.name}: ${c.detail}`);
        log(`parity: ${summarizeChecks(checks)}`);
      });
    });

  sizeOptions(
    program
      .command('bench')
      .description('the benchmark suites')
      .requiredOption('--json <file>', 'results, rewritten after every row'),
  )
    .option('--suite <suites>', `${SUITES.join(', ')} (comma-separated; default all)`, suiteList(SUITES))
    .option('--md <file>', 'also a markdown report')
    .option('--budget-s <seconds>', 'time budget of each suite', positiveSeconds)
    .action(
      async (o: {
        json: string;
        smoke?: boolean;
        quick?: boolean;
        suite?: RunSuite[];
        md?: string;
        budgetS?: number;
      }) => {
        const budgetMs = o.budgetS ? o.budgetS * 1000 : undefined;
        const result = await withGpu((gpu) =>
          runBench(gpu, {
            smoke: !!o.smoke,
            quick: !!o.quick,
            suites: o.suite?.length ? o.suite : SUITES,
            command,
            budgetMs: budgetMs
              ? { kernels: budgetMs, model: budgetMs, search: budgetMs, peers: budgetMs }
              : undefined,
            log,
            onProgress: (res, last) => {
              writeJson(o.json, res);
              if ('ms' in last)
                log(
                  `${last.key}: ${last.ms.toFixed(3)} ms${last.tokensPerS ? `, ${last.tokensPerS.toFixed(0)} tokens/s` : ''}`,
                );
              else log(`${last.key}: ${last.error}`);
            },
            onPeer: (res, last) => {
              writeJson(o.json, res);
              log(
                `${last.key}: ${last.status}${last.ratio === null ? ` (${last.error})` : `, ours ${last.oursMs?.toFixed(3)} ms, ${last.peer} ${last.peerMs?.toFixed(3)} ms, ratio ${last.ratio.toFixed(2)}x`}`,
              );
            },
          }),
        );
        writeJson(o.json, result);
        if (o.md) writeFileSync(o.md, renderReport({ webgpu: [result], torch: [] }));
        log(
          `bench: ${result.rows.length} rows, ${result.failures.length} not measured; wrote ${o.json}${o.md ? ` and ${o.md}` : ''}`,
        );
      },
    );

  const planSuites: readonly Suite[] = ['kernels', 'model'];
  sizeOptions(
    program
      .command('plan')
      .description('the PyTorch specs for torch_bench.py')
      .requiredOption('--json <file>', 'the plan'),
  )
    .option('--suite <suites>', 'kernels, model (comma-separated; default both)', suiteList(planSuites))
    .action((o: { json: string; smoke?: boolean; quick?: boolean; suite?: Suite[] }) => {
      const plan = torchPlan(!!o.smoke, o.suite?.length ? o.suite : planSuites, !!o.quick);
      writeJson(o.json, plan);
      log(`plan: ${plan.length} PyTorch measurements written to ${o.json}`);
    });

  program
    .command('index-choice')
    .description('FlatIndex / GpuFlatIndex / IvfIndex / LanceDB / pgvector side by side')
    .requiredOption('--json <file>', 'results, rewritten as they come')
    .option('--md <file>', 'also a markdown table')
    .addOption(new Option('--smoke', 'tiny corpus').conflicts('full'))
    .addOption(new Option('--full', '1M x 768 (an accelerator)'))
    .action(async (o: { json: string; md?: string; smoke?: boolean; full?: boolean }) => {
      const size = o.smoke ? 'smoke' : o.full ? 'full' : 'default';
      const result = await withGpu((gpu) =>
        benchIndexChoice(gpu, { size, log, onProgress: (res) => writeJson(o.json, res) }),
      );
      writeJson(o.json, result);
      if (o.md) writeFileSync(o.md, `${formatIndexChoice(result)}\n`);
      log(
        `index-choice: ${result.rows.length} rows, ${result.skipped.length} not measured; wrote ${o.json}${o.md ? ` and ${o.md}` : ''}`,
      );
    });

  program
    .command('make-model')
    .description('a random-weight LLaMA-2-7B-shaped model folder (f16, two shards); never commit it')
    .requiredOption('--out <dir>', 'folder to write (about 13.5 GB at 32 layers)')
    .option('--layers <n>', 'decoder layers (default 32; fewer for a bounded run)', positiveInt)
    .option('--smoke', 'a tiny model of the same layout (hidden 128, 2 layers)')
    .action(async (o: { out: string; layers?: number; smoke?: boolean }) => {
      const t0 = performance.now();
      const config = await makeRandomModel(o.out, { layers: o.layers, smoke: !!o.smoke });
      log(
        `make-model: ${o.out} (hidden ${config.hiddenSize}, ${config.numLayers} layers) in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
      );
    });

  program
    .command('bench-folder')
    .description(
      'a model folder loaded as f16, q8, q4 and nf4: checked, then embedding and a QLoRA step timed',
    )
    .requiredOption('--model <dir>', 'the model folder (make-model)')
    .requiredOption('--json <file>', 'results, rewritten after every row')
    .option('--ref <file>', "torch_7b_reference.py's hidden states of the same folder")
    .option('--smoke', 'tiny batch shapes (CPU adapters)')
    .option('--formats <list>', 'f16, q8, q4, nf4 (comma-separated; default all)', formatList)
    .option('--budget-s <seconds>', 'time budget (loading included)', positiveSeconds)
    .action(
      async (o: {
        model: string;
        json: string;
        ref?: string;
        smoke?: boolean;
        formats?: BaseFormat[];
        budgetS?: number;
      }) => {
        if (!existsSync(path.join(o.model, 'config.json')))
          throw new UsageError(`${o.model} has no config.json: make it with device-main make-model.`);
        const smoke = !!o.smoke;
        const result = await withGpu(async (gpu) => {
          const res: BenchResult = { meta: benchMeta(gpu, smoke, command), rows: [], failures: [] };
          await benchModelFolder(gpu, {
            dir: o.model,
            ref: o.ref,
            smoke,
            formats: o.formats,
            budgetMs: o.budgetS ? o.budgetS * 1000 : undefined,
            log,
            onResult: (r) => {
              if ('ms' in r) res.rows.push(r);
              else res.failures.push(r);
              writeJson(o.json, res);
              log('ms' in r ? `${r.key}: ${r.ms.toFixed(1)} ms; ${r.note ?? ''}` : `${r.key}: ${r.error}`);
            },
          });
          return res;
        });
        writeJson(o.json, result);
        log(
          `bench-folder: ${result.rows.length} rows, ${result.failures.length} not measured; wrote ${o.json}`,
        );
      },
    );

  program
    .command('folder-plan')
    .description("the PyTorch twins of bench-folder's rows, for torch_bench.py --suite model")
    .requiredOption('--model <dir>', 'the model folder')
    .requiredOption('--json <file>', 'the plan')
    .option('--smoke', 'tiny batch shapes')
    .action(async (o: { model: string; json: string; smoke?: boolean }) => {
      let config: LlamaConfig;
      try {
        config = (await openModelFolder(o.model, { tokenizer: false })).config;
      } catch (e) {
        throw new UsageError(errorMessage(e));
      }
      const plan = folderTorchPlan(config, !!o.smoke);
      writeJson(o.json, plan);
      log(`folder-plan: ${plan.length} PyTorch measurements written to ${o.json}`);
    });

  program
    .command('report')
    .description('RESULTS.md from benchmark, PyTorch, check and parity JSON')
    .requiredOption('--out <file>', 'the markdown report')
    .option('--webgpu <files>', 'bench JSON (comma-separated)', commaList, [])
    .option('--torch <files>', 'torch_bench.py / torch_search_bench.py JSON', commaList, [])
    .option('--checks <files>', 'checks JSON', commaList, [])
    .option('--parity <files>', 'parity JSON', commaList, [])
    .action((o: { out: string; webgpu: string[]; torch: string[]; checks: string[]; parity: string[] }) => {
      const webgpu = o.webgpu.map((f) => readJson(f) as BenchResult);
      const torch = o.torch.map((f) => normalizeTorch(readJson(f), f));
      const checks = o.checks.map((f) => readJson(f) as ChecksFile);
      const parity = o.parity.map((f) => readJson(f) as ChecksFile);
      if (webgpu.length + checks.length + parity.length === 0)
        throw new UsageError('report needs at least one of --webgpu, --checks or --parity.');
      writeFileSync(o.out, renderReport({ webgpu, torch, checks, parity }));
      log(`report written to ${o.out}`);
    });

  return program;
}

/** Runs one device-main command line; returns the exit status (see the top of this file). */
export async function runDeviceMain(argv: string[]): Promise<number> {
  const args = argv.filter((a) => a !== '--');
  const program = buildDeviceProgram(`device-main ${args.join(' ')}`);
  try {
    await program.parseAsync(args, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    process.stderr.write(`${errorMessage(e)}\n`);
    if (e instanceof UsageError) return 1;
    if (e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return 2;
  }
}
