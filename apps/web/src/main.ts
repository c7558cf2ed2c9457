/**
 * The demo page: pick a device, load a model, embed documents, search as you type. The device, the model
 * and the embeddings live in a dedicated worker (`model-worker.ts`), so loading, embedding and searching
 * never block typing; this thread only sends calls and draws. Every step reports its time; every failure
 * becomes one sentence in the page. What the page knows lives in one PageState;
 * when the documents, the model or the adapter change, page-render.ts's `showStateChange` resets every
 * display derived from them (results, progress, timings, errors).
 */
import { isQuantFormat } from '@llara/gpu';
import {
  asLines,
  type Documents,
  documentsFromFile,
  documentsFromLines,
  fetchCorpusSample,
} from './documents.ts';
import { errorMessage, formatMs } from './dom.ts';
import { LatestRunner } from './latest-runner.ts';
import { ModelWorker, type RemoteModel } from './model-client.ts';
import {
  CRANFIELD_CORPUS_PATH,
  findDemoAdapter,
  hasDirectoryPicker,
  pickDirectory,
  pickedFromFileList,
} from './model-files.ts';
import type { AdapterSpec, LoadProgress, ModelSpec } from './model-protocol.ts';
import { refreshControls, renderAdapter, showStateChange } from './page-render.ts';
import { type JobKind, PageState } from './page-state.ts';
import { clearError, renderResults, setNote, showError, ui } from './page-ui.ts';
import { fetchServedFiles, type ServedFiles } from './served-files.ts';
import { mountTrainPanel } from './train/train-panel.ts';
import { describeTruncation } from './truncation.ts';

const TOP_K = 10;
const CRANFIELD_SAMPLE = 200;
const SEARCH_DEBOUNCE_MS = 150;
const EMBED_BATCH = 16;
const base = document.baseURI;
const state = new PageState<RemoteModel>();
let served: ServedFiles | null = null;
const worker = new ModelWorker((message) => {
  state.deviceLost();
  showError(message);
});

state.onChange((e) => showStateChange(state, e));

/** Runs one GPU job: errors go to the page, other jobs wait; a job cancelled by a change says nothing. */
async function runJob(kind: JobKind, fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
  if (state.job !== null) return;
  clearError();
  const signal = state.startJob(kind);
  // Lets a test (or an extension) wait for a job to finish.
  document.body.dataset.busy = 'true';
  refreshControls(state);
  try {
    await fn(signal);
  } catch (e) {
    if (!signal.aborted) showError(e);
  } finally {
    state.endJob(signal);
    delete document.body.dataset.busy;
    refreshControls(state);
  }
}

/** Runs a documents action (no GPU, allowed during a job): its error goes to the page. */
async function documentsAction(fn: () => Promise<void>): Promise<void> {
  clearError();
  try {
    await fn();
  } catch (e) {
    showError(e);
  }
}

async function startDevice(): Promise<void> {
  ui.openDirectory.hidden = !hasDirectoryPicker();
  const adapter = fetchServedFiles(base).then(async (files) => {
    served = files;
    state.demoAdapter = (await findDemoAdapter(base, files)) ? { kind: 'demo', base, served: files } : null;
  });
  try {
    const device = await worker.connect();
    state.device = device;
    ui.deviceSummary.textContent = device.summary;
    ui.device.textContent = device.capabilities;
  } catch (e) {
    ui.deviceSummary.textContent = 'No WebGPU device.';
    showError(e);
  }
  await adapter;
  refreshControls(state);
}

/** Checks the new model completely (in the worker), and only then replaces the loaded one. */
async function load(spec: ModelSpec): Promise<void> {
  if (!state.device) throw new Error('There is no WebGPU device to load the model on.');
  const previous = state.model;
  // A query still running would use the model about to be replaced.
  await searches.idle();
  let phase: LoadProgress['phase'] | null = null;
  try {
    const quantize = isQuantFormat(ui.quantize.value) ? ui.quantize.value : undefined;
    const loaded = await worker.load(spec, state.wantAdapter, quantize, (p) => {
      if (p.phase === 'checking') ui.modelStatus.textContent = `Checking ${p.label}…`;
      else {
        // The worker freed the old model: whatever was built from it is gone.
        if (phase !== 'loading') {
          state.setModel(null);
          ui.modelStatus.textContent = `Loading ${p.label}…`;
        }
        ui.loadProgress.value = p.fraction;
      }
      phase = p.phase;
    });
    state.setModel(loaded);
    ui.loadProgress.value = 1;
    ui.modelStatus.textContent = `Loaded ${loaded.describe()}.`;
    ui.timeLoad.textContent = formatMs(loaded.loadMs);
  } catch (e) {
    if (phase === 'checking') {
      ui.modelStatus.textContent = previous ? `Loaded ${previous.describe()}.` : 'No model loaded.';
      throw new Error(`${errorMessage(e)}${previous ? ` ${previous.label} stays loaded.` : ''}`);
    }
    if (phase === 'loading') {
      ui.loadProgress.value = 0;
      ui.modelStatus.textContent = 'No model loaded.';
    }
    throw e;
  }
}

function currentDocuments(): Documents {
  return state.picked ?? documentsFromLines(ui.documents.value);
}

function setDocuments(docs: Documents, note: string): void {
  ui.documents.value = asLines(docs);
  ui.documentsNote.textContent = note;
  state.documentsChanged(docs);
}

async function embed(signal: AbortSignal): Promise<void> {
  const loaded = state.model;
  if (!loaded) throw new Error('Load a model before embedding documents.');
  const docs = currentDocuments();
  if (docs.ids.length === 0) throw new Error('There are no documents to embed: type some, one per line.');
  const version = state.documentsVersion;
  await searches.idle();
  ui.embedProgress.value = 0;
  setNote(ui.embedNote, null);
  ui.embedStatus.textContent = `Embedding ${docs.ids.length} documents…`;
  const search = await worker.embed(loaded, docs, {
    maxLen: Number(ui.maxLen.value),
    batchSize: EMBED_BATCH,
    signal,
    onProgress: (p) => {
      ui.embedProgress.value = p.done / p.total;
      ui.embedStatus.textContent = `Embedding: ${p.done} / ${p.total} documents, ${p.tokens.toLocaleString('en-US')} tokens…`;
    },
  });
  if (!state.setIndex(search, version, loaded)) return;
  const perSecond = search.size / (search.embedMs / 1000);
  ui.embedProgress.value = 1;
  ui.embedStatus.textContent = `Embedded ${search.size} documents (${search.tokens.toLocaleString('en-US')} tokens, ${search.dim} dimensions) in ${formatMs(search.embedMs)}.`;
  setNote(ui.embedNote, describeTruncation(search.cut, search.size, 'document'));
  ui.timeEmbed.textContent = formatMs(search.embedMs);
  ui.timeRate.textContent = `${perSecond.toFixed(1)} docs/s, ${Math.round(search.tokens / (search.embedMs / 1000)).toLocaleString('en-US')} tokens/s`;
  if (ui.query.value.trim() !== '') searches.push(ui.query.value);
}

const searches = new LatestRunner<string>(
  SEARCH_DEBOUNCE_MS,
  async (raw) => {
    const query = raw.trim();
    const search = state.search;
    if (!search || query === '') {
      setNote(ui.queryNote, null);
      return renderResults(query, []);
    }
    let answer: Awaited<ReturnType<typeof worker.search>>;
    try {
      answer = await worker.search(search, query, TOP_K);
    } catch (e) {
      // The documents or the model changed while this query ran: its error is moot too.
      if (state.search !== search) return;
      throw e;
    }
    // The documents or the model may have changed while this query ran.
    if (state.search !== search) return;
    const { hits, ms, cut } = answer;
    renderResults(query, hits);
    setNote(ui.queryNote, describeTruncation(cut, 1, 'query'));
    ui.timeQuery.textContent = formatMs(ms);
  },
  showError,
);

ui.loadDefault.addEventListener('click', () =>
  runJob('load', () => load({ kind: 'bundled', base, served, adapter: state.demoAdapter })),
);
ui.modelFolder.addEventListener('change', () =>
  runJob('load', async () => {
    const list = ui.modelFolder.files;
    if (!list || list.length === 0) return;
    const { folderName, picked } = pickedFromFileList(list);
    ui.modelFolder.value = '';
    await load({ kind: 'picked', folderName, picked });
  }),
);
ui.openDirectory.addEventListener('click', () =>
  runJob('load', async () => {
    const dir = await pickDirectory();
    if (dir) await load({ kind: 'picked', folderName: dir.folderName, picked: dir.picked });
  }),
);
ui.useAdapter.addEventListener('change', () => {
  state.wantAdapter = ui.useAdapter.checked;
  const model = state.model;
  if (!model?.adapter) return renderAdapter(state);
  void runJob('adapter', async () => {
    // A query still running would see the adapter change under it.
    await searches.idle();
    await model.setAdapter(state.wantAdapter);
    state.adapterChanged();
    ui.modelStatus.textContent = `Loaded ${model.describe()}.`;
  });
});
ui.documents.addEventListener('input', () => {
  ui.documentsNote.textContent = '';
  state.documentsChanged(null);
});
ui.documentsFile.addEventListener('change', () =>
  documentsAction(async () => {
    const file = ui.documentsFile.files?.[0];
    if (!file) return;
    ui.documentsFile.value = '';
    const docs = documentsFromFile(file.name, new Uint8Array(await file.arrayBuffer()));
    setDocuments(docs, `${docs.ids.length} documents from ${file.name}`);
  }),
);
ui.loadCranfield.addEventListener('click', () =>
  documentsAction(async () => {
    const docs = await fetchCorpusSample(new URL(CRANFIELD_CORPUS_PATH, base).toString(), CRANFIELD_SAMPLE);
    setDocuments(docs, `the first ${docs.ids.length} Cranfield documents (ids kept)`);
  }),
);
ui.embed.addEventListener('click', () => runJob('embed', embed));
ui.query.addEventListener('input', () => {
  clearError();
  searches.push(ui.query.value);
});

void startDevice();
mountTrainPanel(document.querySelector<HTMLElement>('[data-testid="train"]') as HTMLElement, {
  documents: () => currentDocuments().texts,
  useAdapter: async (files) => {
    ui.useAdapter.checked = true;
    state.wantAdapter = true;
    const adapter: AdapterSpec = { kind: 'bytes', location: 'the trained adapter', files };
    await runJob('load', () => load({ kind: 'bundled', base, served, adapter }));
    await runJob('embed', embed);
  },
});
