/**
 * How the demo page shows its PageState: which controls are enabled, the adapter box and its note, and
 * the reset of every display derived from the documents, model or adapter when one of them changes (the
 * one place that does it, so a stale progress bar, timing, result or error cannot survive a change).
 */
import { BUNDLED_LABEL, DEMO_ADAPTER_PATH } from './model-files.ts';
import type { ChangeEvent, PageState } from './page-state.ts';
import { clearError, renderResults, resetTimings, setNote, setRichText, ui } from './page-ui.ts';

/** Enables what makes sense now: no second job while one runs; documents can change at any time. */
export function refreshControls(state: PageState): void {
  const idle = state.job === null;
  const ready = state.device !== null && idle;
  ui.loadDefault.disabled = !ready;
  ui.modelFolder.disabled = !ready;
  ui.openDirectory.disabled = !ready;
  ui.embed.disabled = !ready || state.model === null;
  ui.query.disabled = !idle || state.search === null;
  renderAdapter(state);
}

/** The adapter box is ticked only when an adapter exists and is (to be) applied; toggling it acts at once. */
export function renderAdapter(state: PageState): void {
  const model = state.model;
  const available = model ? model.adapter !== null : state.demoAdapter !== null;
  ui.useAdapter.checked = available && state.wantAdapter;
  ui.useAdapter.disabled = !available || state.job !== null;
  if (model?.adapter)
    setRichText(
      ui.adapterNote,
      `LoRA adapter from \`${model.adapter.location}\`: ${model.adapterApplied ? 'applied; untick to remove it' : 'not applied; tick to apply it'} (the documents are then embedded again).`,
    );
  else if (model)
    setRichText(
      ui.adapterNote,
      `${model.label} has no adapter (\`adapter_config.json\` and \`adapter_model.safetensors\`).`,
    );
  else if (state.demoAdapter)
    setRichText(
      ui.adapterNote,
      `Demo adapter found at \`${new URL(DEMO_ADAPTER_PATH, document.baseURI).pathname}\`: applied to stories260K when ticked.`,
    );
  else
    setRichText(
      ui.adapterNote,
      'No demo adapter here (`pnpm demo` trains one); adapter files in a picked model folder are applied.',
    );
}

/** The one place that resets what the documents, model or adapter made stale. */
export function showStateChange(state: PageState, { change, stale, cancelled }: ChangeEvent): void {
  clearError();
  renderResults('', []);
  setNote(ui.queryNote, null);
  setNote(ui.embedNote, null);
  ui.embedProgress.value = 0;
  resetTimings(state.model === null);
  if (state.model === null) {
    ui.loadProgress.value = 0;
    ui.modelStatus.textContent = 'No model loaded.';
  }
  setNote(
    ui.resultsNote,
    state.model?.label === BUNDLED_LABEL
      ? 'stories260K shows the pipeline, not relevance: its scores are high for unrelated text too.'
      : null,
  );
  const what =
    change === 'adapter'
      ? `The adapter was ${state.model?.adapterApplied ? 'applied' : 'removed'}`
      : `The ${change === 'device' ? 'device was lost' : `${change} changed`}`;
  if (cancelled) ui.embedStatus.textContent = `${what} during embedding: embed the documents again.`;
  else if (stale && state.model) ui.embedStatus.textContent = `${what}: embed the documents again.`;
  else if (state.model) ui.embedStatus.textContent = 'Model ready: embed the documents.';
  else ui.embedStatus.textContent = 'Nothing embedded yet.';
  refreshControls(state);
}
