/**
 * The demo page: pick a device, load a model, embed documents, search as you type. Every step reports
 * its time; every failure becomes one sentence in the page.
 */
import { type Gpu, isQuantFormat } from '@llara/gpu';
import { Embedder, getRecipe } from '@llara/trainer';
import { connectGpu, deviceSummary, formatCapabilities } from './device.ts';
import { DocumentSearch, type Hit } from './document-search.ts';
import {
  asLines,
  type Documents,
  documentsFromFile,
  documentsFromLines,
  fetchCorpusSample,
} from './documents.ts';
import { byTestId, errorMessage, formatMs } from './dom.ts';
import { LatestRunner } from './latest-runner.ts';
import { type LoadedModel, loadModel } from './load-model.ts';
import {
  CRANFIELD_CORPUS_PATH,
  DEMO_ADAPTER_PATH,
  defaultModelFiles,
  findDemoAdapter,
  hasDirectoryPicker,
  type ModelSource,
  pickDirectory,
  pickedFromFileList,
  sourceFromPicked,
} from './model-files.ts';

const TOP_K = 10;
const CRANFIELD_SAMPLE = 200;
const SEARCH_DEBOUNCE_MS = 150;
const EMBED_BATCH = 16;
const recipe = getRecipe('flag');
const base = document.baseURI;

const ui = {
  deviceSummary: byTestId('device-summary'),
  device: byTestId('device'),
  loadDefault: byTestId<HTMLButtonElement>('load-default'),
  useAdapter: byTestId<HTMLInputElement>('use-adapter'),
  quantize: byTestId<HTMLSelectElement>('quantize'),
  adapterNote: byTestId('adapter-note'),
  modelFolder: byTestId<HTMLInputElement>('model-folder'),
  openDirectory: byTestId<HTMLButtonElement>('open-directory'),
  loadProgress: byTestId<HTMLProgressElement>('load-progress'),
  modelStatus: byTestId('model-status'),
  documents: byTestId<HTMLTextAreaElement>('documents'),
  documentsFile: byTestId<HTMLInputElement>('documents-file'),
  loadCranfield: byTestId<HTMLButtonElement>('load-cranfield'),
  documentsNote: byTestId('documents-note'),
  embed: byTestId<HTMLButtonElement>('embed'),
  maxLen: byTestId<HTMLSelectElement>('max-len'),
  embedProgress: byTestId<HTMLProgressElement>('embed-progress'),
  embedStatus: byTestId('embed-status'),
  query: byTestId<HTMLInputElement>('query'),
  results: byTestId<HTMLOListElement>('results'),
  timeLoad: byTestId('time-load'),
  timeEmbed: byTestId('time-embed'),
  timeRate: byTestId('time-rate'),
  timeQuery: byTestId('time-query'),
  error: byTestId('error'),
};

const state: {
  gpu: Gpu | null;
  demoAdapter: ModelSource['adapter'];
  loaded: LoadedModel | null;
  search: DocumentSearch | null;
  /** Documents from a file or Cranfield (with their ids) while the textarea still shows them unedited. */
  picked: Documents | null;
  busy: boolean;
} = { gpu: null, demoAdapter: null, loaded: null, search: null, picked: null, busy: false };

function showError(e: unknown): void {
  ui.error.textContent = errorMessage(e);
  ui.error.hidden = false;
}

function clearError(): void {
  ui.error.hidden = true;
  ui.error.textContent = '';
}

/** Enables what makes sense now: nothing while a model loads or documents embed. */
function refreshControls(): void {
  const ready = state.gpu !== null && !state.busy;
  ui.loadDefault.disabled = !ready;
  ui.modelFolder.disabled = !ready;
  ui.openDirectory.disabled = !ready;
  ui.loadCranfield.disabled = state.busy;
  ui.documentsFile.disabled = state.busy;
  ui.embed.disabled = !ready || state.loaded === null;
  ui.query.disabled = state.busy || state.search === null;
}

/** Runs one user action: errors go to the page, controls are locked meanwhile. */
async function action(fn: () => Promise<void>): Promise<void> {
  if (state.busy) return;
  clearError();
  state.busy = true;
  // Lets a test (or an extension) wait for an action to finish.
  document.body.dataset.busy = 'true';
  refreshControls();
  try {
    await fn();
  } catch (e) {
    showError(e);
  } finally {
    state.busy = false;
    delete document.body.dataset.busy;
    refreshControls();
  }
}

async function startDevice(): Promise<void> {
  ui.openDirectory.hidden = !hasDirectoryPicker();
  const adapter = findDemoAdapter(base).then((files) => {
    state.demoAdapter = files;
    ui.adapterNote.textContent = files
      ? `Demo adapter found at ${new URL(DEMO_ADAPTER_PATH, base).pathname}: applied to stories260K when ticked.`
      : 'No demo adapter here (`pnpm demo` trains one); adapter files in a picked model folder are applied when ticked.';
  });
  try {
    const gpu = await connectGpu();
    state.gpu = gpu;
    ui.deviceSummary.textContent = deviceSummary(gpu);
    ui.device.textContent = formatCapabilities(gpu.caps);
    gpu.onLost((e) => {
      state.gpu = null;
      state.loaded = null;
      state.search = null;
      refreshControls();
      showError(e);
    });
  } catch (e) {
    ui.deviceSummary.textContent = 'No WebGPU device.';
    showError(e);
  }
  await adapter;
  refreshControls();
}

function resetModel(): void {
  state.search = null;
  state.loaded?.destroy();
  state.loaded = null;
  renderResults('', []);
  ui.embedStatus.textContent = 'Nothing embedded yet.';
  ui.embedProgress.value = 0;
}

async function load(source: ModelSource): Promise<void> {
  const gpu = state.gpu;
  if (!gpu) throw new Error('There is no WebGPU device to load the model on.');
  ui.loadProgress.value = 0;
  ui.modelStatus.textContent = `Loading ${source.label}…`;
  // A query still running would use the model about to be destroyed.
  await searches.idle();
  resetModel();
  const t0 = performance.now();
  try {
    const quantize = isQuantFormat(ui.quantize.value) ? ui.quantize.value : undefined;
    state.loaded = await loadModel(
      gpu,
      source,
      ui.useAdapter.checked,
      recipe,
      (f) => {
        ui.loadProgress.value = f;
      },
      quantize,
    );
  } catch (e) {
    ui.modelStatus.textContent = 'No model loaded.';
    throw e;
  }
  const ms = performance.now() - t0;
  ui.loadProgress.value = 1;
  ui.modelStatus.textContent = `Loaded ${state.loaded.describe()}.`;
  ui.timeLoad.textContent = formatMs(ms);
  ui.timeEmbed.textContent = '–';
  ui.timeRate.textContent = '–';
  ui.timeQuery.textContent = '–';
  if (currentDocuments().ids.length > 0) ui.embedStatus.textContent = 'Model ready: embed the documents.';
}

function currentDocuments(): Documents {
  return state.picked ?? documentsFromLines(ui.documents.value);
}

function setDocuments(docs: Documents, note: string): void {
  ui.documents.value = asLines(docs);
  state.picked = docs;
  ui.documentsNote.textContent = note;
  staleIndex();
}

/** Documents changed: the index no longer matches them. */
function staleIndex(): void {
  if (!state.search) return;
  state.search = null;
  renderResults('', []);
  ui.embedStatus.textContent = 'The documents changed: embed them again.';
  refreshControls();
}

async function embed(): Promise<void> {
  const loaded = state.loaded;
  if (!loaded) throw new Error('Load a model before embedding documents.');
  const docs = currentDocuments();
  if (docs.ids.length === 0) throw new Error('There are no documents to embed: type some, one per line.');
  await searches.idle();
  state.search = null;
  renderResults('', []);
  const embedder = new Embedder(loaded.model, loaded.tokenizer, loaded.recipe, {
    maxLen: Number(ui.maxLen.value),
    batchSize: EMBED_BATCH,
    baseVocab: loaded.baseVocab,
  });
  ui.embedProgress.value = 0;
  ui.embedStatus.textContent = `Embedding ${docs.ids.length} documents…`;
  const search = await DocumentSearch.build(embedder, docs, (p) => {
    ui.embedProgress.value = p.done / p.total;
    ui.embedStatus.textContent = `Embedding: ${p.done} / ${p.total} documents, ${p.tokens.toLocaleString('en-US')} tokens…`;
  });
  state.search = search;
  const perSecond = search.size / (search.embedMs / 1000);
  ui.embedProgress.value = 1;
  ui.embedStatus.textContent = `Embedded ${search.size} documents (${search.tokens.toLocaleString('en-US')} tokens, ${search.embedder.dim} dimensions) in ${formatMs(search.embedMs)}.`;
  ui.timeEmbed.textContent = formatMs(search.embedMs);
  ui.timeRate.textContent = `${perSecond.toFixed(1)} docs/s, ${Math.round(search.tokens / (search.embedMs / 1000)).toLocaleString('en-US')} tokens/s`;
  if (ui.query.value.trim() !== '') searches.push(ui.query.value);
}

function renderResults(query: string, hits: Hit[]): void {
  ui.results.replaceChildren(
    ...hits.map((h) => {
      const li = document.createElement('li');
      li.dataset.testid = 'result';
      li.dataset.id = h.id;
      const score = document.createElement('span');
      score.className = 'score';
      score.dataset.testid = 'result-score';
      score.textContent = h.score.toFixed(3);
      const id = document.createElement('span');
      id.className = 'doc-id';
      id.textContent = h.id;
      const text = document.createElement('span');
      text.className = 'text';
      text.dataset.testid = 'result-text';
      text.textContent = h.text;
      li.append(score, id, text);
      return li;
    }),
  );
  // Lets a test (or a person reading the DOM) see which query these results answer.
  ui.results.dataset.query = query;
}

const searches = new LatestRunner<string>(
  SEARCH_DEBOUNCE_MS,
  async (raw) => {
    const query = raw.trim();
    const search = state.search;
    if (!search || query === '') return renderResults(query, []);
    const { hits, ms } = await search.search(query, TOP_K);
    // The index may have been replaced while this query ran.
    if (state.search !== search) return;
    renderResults(query, hits);
    ui.timeQuery.textContent = formatMs(ms);
  },
  showError,
);

ui.loadDefault.addEventListener('click', () =>
  action(() =>
    load({ label: 'bundled stories260K', files: defaultModelFiles(base), adapter: state.demoAdapter }),
  ),
);
ui.modelFolder.addEventListener('change', () =>
  action(async () => {
    const list = ui.modelFolder.files;
    if (!list || list.length === 0) return;
    const { folderName, picked } = pickedFromFileList(list);
    ui.modelFolder.value = '';
    await load(sourceFromPicked(folderName, picked));
  }),
);
ui.openDirectory.addEventListener('click', () =>
  action(async () => {
    const dir = await pickDirectory();
    if (dir) await load(sourceFromPicked(dir.folderName, dir.picked));
  }),
);
ui.documents.addEventListener('input', () => {
  state.picked = null;
  ui.documentsNote.textContent = '';
  staleIndex();
});
ui.documentsFile.addEventListener('change', () =>
  action(async () => {
    const file = ui.documentsFile.files?.[0];
    if (!file) return;
    ui.documentsFile.value = '';
    const docs = documentsFromFile(file.name, await file.text());
    setDocuments(docs, `${docs.ids.length} documents from ${file.name}`);
  }),
);
ui.loadCranfield.addEventListener('click', () =>
  action(async () => {
    const docs = await fetchCorpusSample(new URL(CRANFIELD_CORPUS_PATH, base).toString(), CRANFIELD_SAMPLE);
    setDocuments(docs, `the first ${docs.ids.length} Cranfield documents (ids kept)`);
  }),
);
ui.embed.addEventListener('click', () => action(embed));
ui.query.addEventListener('input', () => searches.push(ui.query.value));

void startDevice();
