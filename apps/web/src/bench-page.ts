/**
 * bench.html: the WGSL kernel suite of `@llara/benchmarks` on the page's WebGPU device, and (unless
 * unticked) the operations shared with TensorFlow.js and ONNX Runtime Web run by them on the same
 * device, checked against ours and timed under one rule. The report renders as HTML tables (the same
 * blocks `pnpm bench` writes as markdown) with SVG charts of the measured rows; JSON and markdown are
 * downloads. `?run=smoke` (or `?run=full`, with `&only=matmul,...`, `&families=reg4x4,...`, `&peers=0`,
 * `&kernels=0` for the peer comparisons alone, `&peerSize=tiny|smoke|quick|full`) starts a run on load,
 * for headless browsers; the finished result is also left on `window.llaraBench` and
 * `document.body.dataset.done`.
 */
import {
  type BenchResult,
  type BenchRow,
  benchKernels,
  benchMeta,
  benchPeers,
  type Failure,
  KERNEL_NAMES,
  loadBrowserPeers,
  type PeerRow,
  type PeerSize,
  renderReport,
  reportBlocks,
} from '@llara/benchmarks/browser';
import type { Gpu } from '@llara/gpu';
import { benchCharts } from './bench-chart.ts';
import { reportView } from './bench-report-view.ts';
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
  peers: byTestId<HTMLInputElement>('peers'),
  run: byTestId<HTMLButtonElement>('run'),
  download: byTestId<HTMLButtonElement>('download'),
  downloadMd: byTestId<HTMLButtonElement>('download-md'),
  progress: byTestId<HTMLProgressElement>('progress'),
  status: byTestId('status'),
  error: byTestId('error'),
  chart: byTestId('chart'),
  report: byTestId('report'),
};

/** The operations the peers share with us (`benchPeers` filters on these names). */
const PEER_OPS = ['matmul', 'attention', 'rmsnorm', 'topk'];
const PEER_SIZES: readonly PeerSize[] = ['tiny', 'smoke', 'quick', 'full'];

let gpu: Gpu | null = null;
let last: BenchResult | null = null;

function showError(e: unknown): void {
  ui.error.textContent = errorMessage(e);
  ui.error.hidden = false;
}

/**
 * Null when the kernel filter selects something, else the sentence saying it selects nothing (and what
 * it can select), so an empty run is never shown as a result.
 */
function filterProblem(only: string[], peers: boolean): string | null {
  if (only.length === 0) return null;
  const matches = (p: string) =>
    KERNEL_NAMES.some((n) => n.startsWith(p)) ||
    (peers && PEER_OPS.some((o) => o.startsWith(p) || p.startsWith(o)));
  if (only.some(matches)) return null;
  return `No kernel matches "${only.join(',')}": use name prefixes such as ${KERNEL_NAMES.join(', ')}${peers ? `; the peer comparisons cover ${PEER_OPS.join(', ')}` : ''}.`;
}

function download(name: string, type: string, text: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  a.click();
  URL.revokeObjectURL(a.href);
}

interface RunOptions {
  size: 'smoke' | 'full';
  only: string[];
  peers: boolean;
  /** Matmul families to run (URL `families=reg4x4,...`; default all). */
  families?: string[];
  /** URL `kernels=0`: only the peer comparisons (which still run our kernel in each). */
  kernels?: boolean;
  /** URL `peerSize=`: the peer shapes (default tiny for smoke runs, full otherwise). */
  peerSize?: PeerSize;
}

async function run(o: RunOptions): Promise<void> {
  const { size, only, peers: withPeers, families } = o;
  if (!gpu) return;
  const problem = filterProblem(only, withPeers);
  if (problem) {
    showError(problem);
    ui.status.textContent = 'Nothing run.';
    return;
  }
  const smoke = size === 'smoke';
  ui.run.disabled = true;
  ui.download.disabled = true;
  ui.downloadMd.disabled = true;
  ui.error.hidden = true;
  delete document.body.dataset.done;
  ui.progress.removeAttribute('value'); // the suite's length depends on the device: indeterminate
  const params = [
    `run=${size}`,
    ...(only.length ? [`only=${only.join(',')}`] : []),
    ...(withPeers ? [] : ['peers=0']),
    ...(o.kernels === false ? ['kernels=0'] : []),
    ...(o.peerSize ? [`peerSize=${o.peerSize}`] : []),
  ];
  const command = `bench.html?${params.join('&')}`;
  const result: BenchResult = { meta: benchMeta(gpu, smoke, command), rows: [], failures: [], peers: [] };
  const started = performance.now();
  let n = 0;
  const progress = (r: BenchRow | Failure | PeerRow) => {
    n++;
    ui.status.textContent = `${n} configurations measured; last: ${r.key}`;
  };
  try {
    if (o.kernels !== false) {
      const out = await benchKernels(gpu, {
        smoke,
        ...(only.length ? { only } : {}),
        ...(families?.length ? { matmulFamilies: families } : {}),
        onResult: progress,
      });
      result.rows = out.rows;
      result.failures = out.failures;
    }
    if (withPeers) {
      ui.status.textContent = 'Loading TensorFlow.js and ONNX Runtime Web…';
      const { peers, failures } = await loadBrowserPeers(gpu);
      result.failures.push(...failures);
      try {
        const p = await benchPeers(gpu, peers, {
          // The smoke page stays a matter of seconds on a software adapter.
          size: o.peerSize ?? (smoke ? 'tiny' : 'full'),
          ...(smoke ? { warmup: 1, iterations: 3 } : {}),
          ...(only.length ? { only } : {}),
          onResult: progress,
        });
        result.peers = p.rows;
        result.failures.push(...p.failures);
      } finally {
        for (const peer of peers) peer.dispose();
      }
    }
    last = result;
    window.llaraBench = result;
    const blocks = reportBlocks({ webgpu: [result], torch: [] });
    ui.report.replaceChildren(reportView(blocks));
    const charts = benchCharts(result);
    if (charts.length) ui.chart.replaceChildren(...charts);
    else {
      const p = document.createElement('p');
      p.className = 'status';
      p.textContent = 'No row was measured, so there is nothing to chart (see "Not measured" in the report).';
      ui.chart.replaceChildren(p);
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const peerText = withPeers ? `, ${result.peers?.length ?? 0} peer comparisons` : '';
    ui.status.textContent = `${result.rows.length} measured, ${result.failures.length} not measured${peerText}, in ${seconds} s.`;
    ui.download.disabled = false;
    ui.downloadMd.disabled = false;
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
  void run({
    size: ui.size.value === 'full' ? 'full' : 'smoke',
    only: onlyList(ui.only.value),
    peers: ui.peers.checked,
  });
});

ui.download.addEventListener('click', () => {
  if (last) download('browser-bench.json', 'application/json', `${JSON.stringify(last, null, 2)}\n`);
});

ui.downloadMd.addEventListener('click', () => {
  if (last) download('browser-bench.md', 'text/markdown', renderReport({ webgpu: [last], torch: [] }));
});

try {
  gpu = await connectGpu();
  ui.summary.textContent = deviceSummary(gpu);
  ui.run.disabled = false;
  const params = new URLSearchParams(location.search);
  const auto = params.get('run');
  ui.peers.checked = params.get('peers') !== '0';
  if (auto === 'smoke' || auto === 'full') {
    ui.size.value = auto;
    ui.only.value = params.get('only') ?? '';
    const families = onlyList(params.get('families') ?? '');
    const peerSize = params.get('peerSize');
    await run({
      size: auto,
      only: onlyList(ui.only.value),
      peers: ui.peers.checked,
      families,
      kernels: params.get('kernels') !== '0',
      ...(PEER_SIZES.includes(peerSize as PeerSize) ? { peerSize: peerSize as PeerSize } : {}),
    });
  }
} catch (e) {
  ui.summary.textContent = 'No WebGPU device.';
  showError(e);
}
