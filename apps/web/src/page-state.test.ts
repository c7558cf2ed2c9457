import { describe, expect, it } from 'vitest';
import type { IndexInfo } from './model-protocol.ts';
import { type ChangeEvent, type PageModel, PageState } from './page-state.ts';

// Stand-ins: PageState only compares them and destroys models.
const fakeModel = () => {
  const m = { destroyed: 0, destroy: () => void m.destroyed++ };
  return m as unknown as PageModel & { destroyed: number };
};
const fakeSearch = () => ({}) as IndexInfo;

function recorded(): { state: PageState; events: ChangeEvent[] } {
  const state = new PageState();
  const events: ChangeEvent[] = [];
  state.onChange((e) => events.push(e));
  return { state, events };
}

describe('PageState', () => {
  it('serves the index only while the documents and model it was built from are current', () => {
    const { state, events } = recorded();
    const model = fakeModel();
    state.setModel(model);
    const search = fakeSearch();
    expect(state.setIndex(search, state.documentsVersion, model)).toBe(true);
    expect(state.search).toBe(search);
    state.documentsChanged(null);
    expect(state.search).toBeNull();
    expect(events.map((e) => [e.change, e.stale])).toEqual([
      ['model', false],
      ['documents', true],
    ]);
    // Still stale after a second edit, until the documents are embedded again.
    state.documentsChanged(null);
    expect(events.at(-1)?.stale).toBe(true);
    expect(state.setIndex(search, state.documentsVersion, model)).toBe(true);
    state.adapterChanged();
    expect(state.search).toBeNull();
    expect(events.at(-1)).toEqual({ change: 'adapter', stale: true, cancelled: false });
  });

  it('refuses an index built from documents or a model that changed meanwhile', () => {
    const { state } = recorded();
    const model = fakeModel();
    state.setModel(model);
    const version = state.documentsVersion;
    state.documentsChanged(null);
    expect(state.setIndex(fakeSearch(), version, model)).toBe(false);
    const other = fakeModel();
    state.setModel(other);
    expect(state.setIndex(fakeSearch(), state.documentsVersion, model)).toBe(false);
    expect(state.search).toBeNull();
  });

  it('cancels a running embedding when the documents change, not a model load', () => {
    const { state, events } = recorded();
    const load = state.startJob('load');
    expect(() => state.startJob('embed')).toThrow('A load job is already running.');
    state.documentsChanged(null);
    expect(load.aborted).toBe(false);
    state.endJob(load);
    const embed = state.startJob('embed');
    state.documentsChanged({ ids: ['a'], texts: ['wing'] });
    expect(embed.aborted).toBe(true);
    expect(() => embed.throwIfAborted()).toThrow('The documents changed.');
    expect(events.at(-1)).toEqual({ change: 'documents', stale: true, cancelled: true });
    expect(state.picked?.ids).toEqual(['a']);
    state.endJob(embed);
    expect(state.job).toBeNull();
  });

  it('destroys a replaced model, and starts afresh with the new one', () => {
    const { state, events } = recorded();
    const first = fakeModel();
    state.setModel(first);
    state.setIndex(fakeSearch(), state.documentsVersion, first);
    state.setModel(null);
    expect(first.destroyed).toBe(1);
    expect(events.at(-1)?.stale).toBe(true);
    state.setModel(fakeModel());
    expect(events.at(-1)?.stale).toBe(false);
    expect(first.destroyed).toBe(1);
  });
});
