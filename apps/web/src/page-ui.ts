/**
 * The demo page's elements (found by the `data-testid` hooks the browser tests use) and the small
 * renderers main.ts calls: errors, results, notes with inline code, timings.
 */
import type { Hit } from './document-search.ts';
import { byTestId, errorMessage } from './dom.ts';

export const ui = {
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
  embedNote: byTestId('embed-note'),
  query: byTestId<HTMLInputElement>('query'),
  queryNote: byTestId('query-note'),
  resultsNote: byTestId('results-note'),
  results: byTestId<HTMLOListElement>('results'),
  timeLoad: byTestId('time-load'),
  timeEmbed: byTestId('time-embed'),
  timeRate: byTestId('time-rate'),
  timeQuery: byTestId('time-query'),
  error: byTestId('error'),
};

export function showError(e: unknown): void {
  ui.error.textContent = errorMessage(e);
  ui.error.hidden = false;
}

export function clearError(): void {
  ui.error.hidden = true;
  ui.error.textContent = '';
}

/** A note or status line; null or '' hides it. */
export function setNote(el: HTMLElement, text: string | null): void {
  el.textContent = text ?? '';
  el.hidden = !text;
}

/** Text with `backticked` parts shown as code (never as literal backticks). */
export function setRichText(el: HTMLElement, text: string): void {
  el.replaceChildren(
    ...text.split('`').map((part, i) => {
      if (i % 2 === 0) return document.createTextNode(part);
      const code = document.createElement('code');
      code.textContent = part;
      return code;
    }),
  );
}

/** Forgets the embedding and query timings (and the load time too when `model`). */
export function resetTimings(model: boolean): void {
  if (model) ui.timeLoad.textContent = '–';
  ui.timeEmbed.textContent = '–';
  ui.timeRate.textContent = '–';
  ui.timeQuery.textContent = '–';
}

export function renderResults(query: string, hits: Hit[]): void {
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
