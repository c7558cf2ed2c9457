/**
 * The Train panel: LLaRA pretext training of a LoRA adapter on the page's documents, in a worker
 * (`train-worker.ts`), with the knobs, a live loss curve, steps/s, tokens/s and ETA, Pause / Resume /
 * Stop, an offer to continue a run saved in the Origin Private File System, the adapter as a PEFT zip,
 * and "Embed with this adapter", which hands the adapter to the page's search.
 *
 * @example
 * mountTrainPanel(document.querySelector('#train')!, { documents: () => texts, useAdapter: (files) => ... });
 */
import { memoryFiles, parseLlamaConfig, readAdapter, readJson } from '@llara/llama';
import type { MetricsLine } from '@llara/trainer';
import { unzipSync } from 'fflate';
import { errorMessage } from '../dom.ts';
import { ADAPTER_FOLDER, adapterZip } from './adapter-zip.ts';
import { bundledModelFiles } from './bundled-model.ts';
import { lossChartSvg } from './loss-chart.ts';
import { OpfsCheckpoints } from './opfs-checkpoints.ts';
import type { AdapterFiles, FromWorker, ToWorker } from './protocol.ts';
import { documentsToRows } from './rows.ts';
import { DEFAULT_TRAIN_SETTINGS, defaultWarmup, type TrainSettings } from './settings.ts';
import './train-panel.css';

/** What the panel needs from the page. */
export interface TrainHost {
  /** The page's documents (texts), read when Train is pressed. */
  documents(): string[];
  /** Switches the page's search to this adapter (its PEFT files) on the bundled model (load + embed). */
  useAdapter(files: Record<string, Uint8Array>): Promise<void> | void;
}

type Field = {
  key: keyof TrainSettings;
  label: string;
  kind: 'int' | 'float' | 'bool' | TrainSettings['recipe'][] | string[];
};

const FIELDS: Field[] = [
  { key: 'recipe', label: 'recipe', kind: ['flag', 'paper'] },
  { key: 'steps', label: 'steps', kind: 'int' },
  { key: 'batch', label: 'batch', kind: 'int' },
  { key: 'lr', label: 'learning rate', kind: 'float' },
  { key: 'schedule', label: 'schedule', kind: ['cosine', 'linear', 'constant'] },
  { key: 'warmup', label: 'warm-up steps', kind: 'int' },
  { key: 'loraR', label: 'LoRA rank', kind: 'int' },
  { key: 'loraAlpha', label: 'LoRA alpha', kind: 'float' },
  { key: 'loraDropout', label: 'LoRA dropout', kind: 'float' },
  { key: 'maxLen', label: 'max length', kind: 'int' },
  { key: 'ar', label: 'AR loss', kind: 'bool' },
  { key: 'seed', label: 'seed', kind: 'int' },
  { key: 'saveEvery', label: 'checkpoint every', kind: 'int' },
];

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  testId?: string,
): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  if (testId) (e as HTMLElement).dataset.testid = testId;
  return e;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '–';
  if (s < 60) return `${Math.round(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export function mountTrainPanel(container: HTMLElement, host: TrainHost): void {
  const base = document.baseURI;
  const inputs = new Map<keyof TrainSettings, HTMLInputElement | HTMLSelectElement>();
  const form = el('div', { className: 'train-grid' });
  for (const f of FIELDS) {
    const label = el('label', { className: 'inline' });
    let input: HTMLInputElement | HTMLSelectElement;
    if (Array.isArray(f.kind)) {
      input = el('select');
      for (const v of f.kind) input.append(el('option', { value: v, textContent: v }));
      input.value = String(DEFAULT_TRAIN_SETTINGS[f.key]);
    } else if (f.kind === 'bool') {
      input = el('input', { type: 'checkbox', checked: Boolean(DEFAULT_TRAIN_SETTINGS[f.key]) });
    } else {
      input = el('input', { type: 'number', value: String(DEFAULT_TRAIN_SETTINGS[f.key]), step: 'any' });
      input.size = 6;
    }
    input.dataset.testid = `train-${f.key}`;
    inputs.set(f.key, input);
    label.append(`${f.label} `, input);
    form.append(label);
  }
  const stepsInput = inputs.get('steps') as HTMLInputElement;
  stepsInput.addEventListener('change', () => {
    (inputs.get('warmup') as HTMLInputElement).value = String(defaultWarmup(Number(stepsInput.value)));
  });

  const train = el('button', { type: 'button', className: 'primary', textContent: 'Train' }, 'train-start');
  const pause = el('button', { type: 'button', textContent: 'Pause', disabled: true }, 'train-pause');
  const resume = el('button', { type: 'button', textContent: 'Resume', disabled: true }, 'train-resume');
  const stop = el('button', { type: 'button', textContent: 'Stop', disabled: true }, 'train-stop');
  const offer = el('div', { className: 'row', hidden: true }, 'train-offer');
  const offerText = el('span', {}, 'train-offer-text');
  const cont = el(
    'button',
    { type: 'button', className: 'primary', textContent: 'Continue' },
    'train-continue',
  );
  const discard = el('button', { type: 'button', textContent: 'Discard' }, 'train-discard');
  offer.append(offerText, cont, discard);
  const status = el('p', { className: 'status', textContent: 'Not training.' }, 'train-status');
  const stats = el('dl', { className: 'timings' }, 'train-stats');
  const stat = (name: string, id: string) => {
    const dd = el('dd', { textContent: '–' }, id);
    stats.append(el('dt', { textContent: name }), dd);
    return dd;
  };
  const statStep = stat('step', 'train-step');
  const statLoss = stat('loss', 'train-loss');
  const statRate = stat('steps/s', 'train-rate');
  const statTokens = stat('tokens/s', 'train-tokens');
  const statEta = stat('ETA', 'train-eta');
  const chart = el('div', { className: 'train-chart' }, 'train-chart');
  const download = el(
    'button',
    { type: 'button', textContent: 'Download adapter (.zip)', disabled: true },
    'train-download',
  );
  const useIt = el(
    'button',
    { type: 'button', textContent: 'Embed with this adapter', disabled: true },
    'train-embed',
  );
  const pickLabel = el('label', { className: 'file' });
  const pick = el(
    'input',
    { type: 'file', multiple: true, accept: '.zip,.json,.safetensors' },
    'train-adapter-file',
  );
  pickLabel.append(el('span', { textContent: 'Load an adapter (.zip or its two files)…' }), pick);
  const error = el('p', { className: 'error', hidden: true }, 'train-error');
  error.setAttribute('role', 'alert');
  const row = (...kids: HTMLElement[]) => {
    const r = el('div', { className: 'row' });
    r.append(...kids);
    return r;
  };
  container.replaceChildren(
    el('h2', { textContent: '5. Train (in a worker)' }),
    el('p', {
      className: 'muted note',
      textContent:
        'LLaRA pretext training (EBAE + EBAR bag-of-words, optional AR) of a LoRA adapter on the documents above, on its own WebGPU device in a worker; checkpoints stay in this browser (Origin Private File System).',
    }),
    form,
    offer,
    row(train, pause, resume, stop),
    status,
    stats,
    chart,
    row(download, useIt, pickLabel),
    error,
  );

  let worker: Worker | null = null;
  let lines: MetricsLine[] = [];
  let settings: TrainSettings = DEFAULT_TRAIN_SETTINGS;
  let adapter: AdapterFiles | null = null;
  let timing = { since: 0, steps: 0 };
  let lastCheckpoint: number | null = null;
  /** The longest time the page spent on one worker message (drawing included), for the browser test. */
  let longestHandlerMs = 0;

  const showError = (text: string | null) => {
    error.hidden = text === null;
    error.textContent = text ?? '';
  };
  const setRunning = (running: boolean, paused = false) => {
    train.disabled = running;
    cont.disabled = running;
    discard.disabled = running;
    pause.disabled = !running || paused;
    resume.disabled = !running || !paused;
    stop.disabled = !running;
    for (const i of inputs.values()) i.disabled = running;
    container.dataset.training = running ? (paused ? 'paused' : 'running') : 'idle';
  };
  const redraw = () => {
    chart.innerHTML = lossChartSvg(lines);
    const last = lines.at(-1);
    statStep.textContent = last ? `${last.step + 1} / ${settings.steps}` : '–';
    statLoss.textContent = last ? last.loss.toFixed(4) : '–';
  };

  const readSettings = (): TrainSettings => {
    const out: Record<string, unknown> = {};
    for (const f of FIELDS) {
      const input = inputs.get(f.key)!;
      if (f.kind === 'bool') out[f.key] = (input as HTMLInputElement).checked;
      else if (Array.isArray(f.kind)) out[f.key] = input.value;
      else {
        const v = Number(input.value);
        if (input.value.trim() === '' || !Number.isFinite(v)) throw new Error(`${f.label} must be a number.`);
        out[f.key] = v;
      }
    }
    return out as unknown as TrainSettings;
  };
  const showSettings = (s: TrainSettings) => {
    for (const f of FIELDS) {
      const input = inputs.get(f.key)!;
      if (f.kind === 'bool') (input as HTMLInputElement).checked = Boolean(s[f.key]);
      else input.value = String(s[f.key]);
    }
  };

  const onMessage = (m: FromWorker) => {
    switch (m.type) {
      case 'status':
        status.textContent = m.text;
        return;
      case 'started':
        settings = m.settings;
        showSettings(m.settings);
        lines = m.lines;
        timing = { since: performance.now(), steps: 0 };
        redraw();
        status.textContent = `Training on ${m.rows} rows (${m.device}), step ${lines.length} of ${m.settings.steps}…`;
        return;
      case 'step': {
        lines.push(m.line);
        timing.steps++;
        const seconds = (performance.now() - timing.since) / 1000;
        const rate = timing.steps / seconds;
        statRate.textContent = rate.toFixed(2);
        statTokens.textContent = Math.round(m.line.tokens_per_s).toLocaleString('en-US');
        statEta.textContent = formatSeconds((settings.steps - m.line.step - 1) / rate);
        redraw();
        status.textContent = `Training: step ${m.line.step + 1} of ${settings.steps}${lastCheckpoint !== null ? `, checkpoint at step ${lastCheckpoint}` : ''}…`;
        return;
      }
      case 'checkpoint':
        lastCheckpoint = m.step;
        container.dataset.checkpoint = String(m.step);
        return;
      case 'paused':
        setRunning(true, true);
        status.textContent = `Paused after step ${m.step} (checkpoint saved).`;
        return;
      case 'resumed':
        setRunning(true, false);
        timing = { since: performance.now(), steps: 0 };
        status.textContent = 'Training…';
        return;
      case 'done':
        adapter = m.adapter;
        download.disabled = false;
        useIt.disabled = false;
        setRunning(false);
        offer.hidden = true;
        status.textContent = m.stopped
          ? `Stopped after step ${m.step} of ${settings.steps} (checkpoint saved): the adapter so far is ready.`
          : `Trained ${m.step} steps: the adapter is ready.`;
        container.dataset.done = String(m.step);
        return;
      case 'error':
        setRunning(false);
        showError(m.message);
        status.textContent =
          m.checkpoint !== null
            ? `Training stopped; the checkpoint of step ${m.checkpoint} is intact (reload the page to continue from it).`
            : 'Training stopped.';
        worker?.terminate();
        worker = null;
        return;
    }
  };

  const start = (cmd: ToWorker) => {
    showError(null);
    worker ??= new Worker(new URL('./train-worker.ts', import.meta.url), {
      type: 'module',
      name: 'llara-train',
    });
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      const t0 = performance.now();
      onMessage(e.data);
      longestHandlerMs = Math.max(longestHandlerMs, performance.now() - t0);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      onMessage({
        type: 'error',
        message: e.message || 'The training worker failed to start.',
        checkpoint: lastCheckpoint,
      });
    };
    adapter = null;
    download.disabled = true;
    useIt.disabled = true;
    lastCheckpoint = null;
    delete container.dataset.done;
    delete container.dataset.checkpoint;
    setRunning(true);
    status.textContent = 'Starting the training worker…';
    worker.postMessage(cmd);
  };

  train.addEventListener('click', () => {
    try {
      const s = readSettings();
      const rows = documentsToRows(host.documents());
      settings = s;
      lines = [];
      redraw();
      offer.hidden = true;
      start({ type: 'start', base, settings: s, rows, resume: false });
    } catch (e) {
      showError(errorMessage(e));
    }
  });
  cont.addEventListener('click', () => {
    offer.hidden = true;
    start({ type: 'start', base, resume: true });
  });
  discard.addEventListener('click', async () => {
    offer.hidden = true;
    try {
      await (await OpfsCheckpoints.open()).clear();
      status.textContent = 'The saved run was discarded.';
    } catch (e) {
      showError(errorMessage(e));
    }
  });
  pause.addEventListener('click', () => {
    pause.disabled = true;
    status.textContent = 'Pausing after this step…';
    worker?.postMessage({ type: 'pause' } satisfies ToWorker);
  });
  resume.addEventListener('click', () => worker?.postMessage({ type: 'resume' } satisfies ToWorker));
  stop.addEventListener('click', () => {
    stop.disabled = true;
    status.textContent = 'Stopping after this step…';
    worker?.postMessage({ type: 'stop' } satisfies ToWorker);
  });
  download.addEventListener('click', () => {
    if (!adapter) return;
    const url = URL.createObjectURL(new Blob([adapterZip(adapter) as BlobPart], { type: 'application/zip' }));
    const a = el('a', { href: url, download: `${ADAPTER_FOLDER}.zip` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  });
  useIt.addEventListener('click', async () => {
    if (!adapter) return;
    showError(null);
    try {
      await host.useAdapter(adapterBytes(adapter));
    } catch (e) {
      showError(errorMessage(e));
    }
  });
  pick.addEventListener('change', async () => {
    const files = Array.from(pick.files ?? []);
    pick.value = '';
    if (files.length === 0) return;
    showError(null);
    try {
      const picked = await adapterFromPicked(files);
      // Checked against the bundled model before the page uses it: a wrong adapter is one sentence here.
      const model = bundledModelFiles(base);
      const config = parseLlamaConfig(await readJson(model, 'config.json'), 'config.json');
      const files2 = memoryFiles(picked.files, picked.label);
      await readAdapter(files2, config);
      adapter = {
        'adapter_config.json': new TextDecoder().decode(picked.files['adapter_config.json']),
        'adapter_model.safetensors': picked.files['adapter_model.safetensors'],
      };
      download.disabled = false;
      useIt.disabled = false;
      status.textContent = `Loaded the adapter from ${picked.label || 'the picked files'}: "Embed with this adapter" uses it.`;
    } catch (e) {
      showError(errorMessage(e));
    }
  });

  // For the browser test (and the curious): the logged losses, and a simulated driver reset in the worker.
  (globalThis as { __llaraTrain?: unknown }).__llaraTrain = {
    lines: () => lines.map((l) => ({ ...l })),
    longestHandlerMs: () => longestHandlerMs,
    loseDevice: () => worker?.postMessage({ type: 'lose-device' } satisfies ToWorker),
  };

  setRunning(false);
  void offerSavedRun();

  async function offerSavedRun(): Promise<void> {
    try {
      const store = await OpfsCheckpoints.open();
      const run = await store.run();
      const step = await store.currentStep();
      if (!run || step === null) return;
      showSettings(run.settings);
      offerText.textContent =
        step >= run.settings.steps
          ? `A finished training run (${step} steps, ${run.rows.length} rows, recipe ${run.settings.recipe}) is saved: Continue gives its adapter.`
          : `A training run was saved at step ${step} of ${run.settings.steps} (${run.rows.length} rows, recipe ${run.settings.recipe}).`;
      offer.hidden = false;
      container.dataset.saved = String(step);
    } catch {
      // No OPFS: training says so when it starts.
    }
  }
}

function adapterBytes(files: AdapterFiles): Record<string, Uint8Array> {
  return {
    'adapter_config.json': new TextEncoder().encode(files['adapter_config.json']),
    'adapter_model.safetensors': files['adapter_model.safetensors'],
  };
}

/** adapter_config.json and adapter_model.safetensors from picked files or a zip holding them (any folder). */
async function adapterFromPicked(
  files: File[],
): Promise<{ label: string; files: Record<string, Uint8Array> }> {
  const out: Record<string, Uint8Array> = {};
  // Messages name a file as `label/name`: the zip's name, or just the file's own name.
  let label = '';
  for (const f of files) {
    const bytes = new Uint8Array(await f.arrayBuffer());
    if (/\.zip$/i.test(f.name)) {
      let entries: Record<string, Uint8Array>;
      try {
        entries = unzipSync(bytes);
      } catch {
        throw new Error(`${f.name} is not a readable zip file.`);
      }
      for (const [path, data] of Object.entries(entries)) {
        const name = path.slice(path.lastIndexOf('/') + 1);
        if (name === 'adapter_config.json' || name === 'adapter_model.safetensors') out[name] = data;
      }
      label = f.name;
    } else out[f.name] = bytes;
  }
  if (!out['adapter_config.json'] || !out['adapter_model.safetensors'])
    throw new Error(
      `${label} is not a PEFT adapter: it needs adapter_config.json and adapter_model.safetensors.`,
    );
  return { label, files: out };
}
