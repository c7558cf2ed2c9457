/**
 * device-main's command line (the part of the accelerator run that does not need a GPU): the plan the
 * PyTorch twins read, the report, and one-sentence usage errors with exit status 1.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runDeviceMain } from './device-commands.ts';
import { torchPlan } from './run-bench.ts';

let dir: string;
let stderr: string[];
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'device-main-'));
  stderr = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    stderr.push(String(s));
    return true;
  });
});
afterEach(() => vi.restoreAllMocks());

describe('device-main', () => {
  it('writes the PyTorch plan for the size and suites asked, a leading -- dropped', async () => {
    const file = path.join(dir, 'plan.json');
    expect(await runDeviceMain(['--', 'plan', '--quick', '--suite', 'kernels', '--json', file])).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(torchPlan(false, ['kernels'], true));
    expect(await runDeviceMain(['plan', '--smoke', '--json', file])).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(torchPlan(true, ['kernels', 'model']));
  });

  it("makes a smoke model folder and writes the PyTorch twins of bench-folder's rows", async () => {
    const model = path.join(dir, 'model');
    expect(await runDeviceMain(['make-model', '--out', model, '--smoke'])).toBe(0);
    const file = path.join(dir, 'plan-7b.json');
    expect(await runDeviceMain(['folder-plan', '--model', model, '--json', file, '--smoke'])).toBe(0);
    const plan = JSON.parse(readFileSync(file, 'utf8'));
    expect(plan.map((s: { key: string }) => s.key)).toEqual([
      'embed_folder|h128-L2|B4xT48|fp16',
      'train_lora|h128-L2|B2xT48|bf16',
    ]);
    expect(plan[1]).toMatchObject({ op: 'train_lora', hidden: 128, layers: 2, vocab: 528, r: 8 });
  });

  it('renders a report from check results', async () => {
    const checks = path.join(dir, 'checks.json');
    const meta = { date: '2026-11-26T00:00:00Z', device: 'test', command: 'device-main checks' };
    const check = {
      name: 'matmul x',
      status: 'pass',
      maxAbsError: 0,
      tolerance: 't',
      detail: 'd',
      seconds: 1,
    };
    writeFileSync(checks, JSON.stringify({ meta, checks: [check] }));
    const out = path.join(dir, 'RESULTS.md');
    expect(await runDeviceMain(['report', '--checks', checks, '--out', out])).toBe(0);
    expect(readFileSync(out, 'utf8')).toMatch(/\| matmul x +\| pass /);
  });

  it('refuses bad command lines with exit status 1 and says why', async () => {
    const file = path.join(dir, 'x.json');
    const cases: [string[], RegExp][] = [
      [['plan', '--smoke', '--quick', '--json', file], /cannot be used with option '--quick'/],
      [['plan', '--suite', 'search', '--json', file], /unknown suite "search"; choose from kernels, model/],
      [['bench', '--json', file, '--budget-s', '0'], /must be a positive number of seconds, not 0/],
      [['checks'], /required option '--json <file>' not specified/],
      [['report', '--out', file], /report needs at least one of --webgpu, --checks or --parity/],
      [['report', '--checks', path.join(dir, 'missing.json'), '--out', file], /missing\.json does not exist/],
      [['launch'], /unknown command 'launch'/],
      [['make-model', '--out', dir, '--layers', '0'], /must be a positive integer, not 0/],
      [
        ['bench-folder', '--model', dir, '--json', file],
        /has no config\.json: make it with device-main make-model/,
      ],
      [
        ['bench-folder', '--model', dir, '--json', file, '--formats', 'q5'],
        /unknown format "q5"; choose from f16, q8, q4, nf4/,
      ],
    ];
    for (const [argv, message] of cases) {
      stderr = [];
      expect(await runDeviceMain(argv), argv.join(' ')).toBe(1);
      expect(stderr.join(''), argv.join(' ')).toMatch(message);
    }
  });
});
