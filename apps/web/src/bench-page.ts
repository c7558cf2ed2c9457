/**
 * bench.html: the WGSL kernel suite of `@llara/benchmarks` on the page's WebGPU device, rendered as
 * the same markdown report `pnpm bench` writes in Node, with the JSON to download. `?run=smoke` (or
 * `?run=full`) starts a run on load, for headless browsers; the finished result is also left on
 * `window.llaraBench` and `document.body.dataset.done`.
 */
import {
  type BenchResult,
  type BenchRow,
  benchKernels,
  benchMeta,
  type Failure,
  renderReport,
} from '@llara/benchmarks/browser';
import type { Gpu } from '@llara/gpu';
import { connectGpu, deviceSummary } from './device.ts';
import { byTestId, errorMessage } from './dom.ts';

declare global {
  interface Window {
    llaraBench?: BenchResult;
  }
}

const ui = {
  summary: byTestId('device-summary'),
  size: byTestId<HTMLSelectElement>('size'),
  only: byTestId<HTMLInputElement>('only'),
  run: byTestId<HTMLButtonElement>('run'),
  download: byTestId<HTMLButtonElement>('download'),
  progress: byTestId<HTMLProgressElement>('progress'),
  status: byTestId('status'),
  error: byTestId('error'),
  report: byTestId('report'),
};

let gpu: Gpu | null = null;
let last: BenchResult | null = null;

function showError(e: unknown): void {
  ui.error.textContent = errorMessage(e);
  ui.error.hidden = false;
}

async function run(size: 'smoke' | 'full', only: string[]): Promise<void> {
  if (!gpu) return;
  const smoke = size === 'smoke';
  ui.run.disabled = true;
  ui.download.disabled = true;
  ui.error.hidden = true;
  delete document.body.dataset.done;
  ui.progress.removeAttribute('value'); // the suite's length depends on the device: indeterminate
  const command = `bench.html?run=${size}${only.length ? `&only=${only.join(',')}` : ''}`;
  const result: BenchResult = { meta: benchMeta(gpu, smoke, command), rows: [], failures: [] };
  const started = performance.now();
  try {
    const out = await benchKernels(gpu, {
      smoke,
      ...(only.length ? { only } : {}),
      onResult: (r: BenchRow | Failure) => {
        const n = result.rows.length + result.failures.length + 1;
        ui.status.textContent = `${n} configurations measured; last: ${r.key}`;
      },
    });
    result.rows = out.rows;
    result.failures = out.failures;
    last = result;
    window.llaraBench = result;
    ui.report.textContent = renderReport({ webgpu: [result], torch: [] });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    ui.status.textContent = `${result.rows.length} measured, ${result.failures.length} not measured, in ${seconds} s.`;
    ui.download.disabled = false;
    document.body.dataset.done = 'true';
  } catch (e) {
    showError(e);
  } finally {
    ui.progress.value = 1;
    ui.run.disabled = false;
  }
}

function onlyList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

ui.run.addEventListener('click', () => {
  void run(ui.size.value === 'full' ? 'full' : 'smoke', onlyList(ui.only.value));
});

ui.download.addEventListener('click', () => {
  if (!last) return;
  const blob = new Blob([`${JSON.stringify(last, null, 2)}\n`], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = 'browser-bench.json';
  a.click();
  URL.revokeObjectURL(a.href);
});

try {
  gpu = await connectGpu();
  ui.summary.textContent = deviceSummary(gpu);
  ui.run.disabled = false;
  const params = new URLSearchParams(location.search);
  const auto = params.get('run');
  if (auto === 'smoke' || auto === 'full') {
    ui.size.value = auto;
    ui.only.value = params.get('only') ?? '';
    await run(auto, onlyList(ui.only.value));
  }
} catch (e) {
  ui.summary.textContent = 'No WebGPU device.';
  showError(e);
}
