/**
 * Everything the demo page knows, in one object: the device, the documents (as a version number that
 * every edit bumps), the model, the index built from both, the adapter choice and the one job running.
 * Whatever the index was built from changes through a method here, and that one place drops the index,
 * aborts an embedding run and tells the page (which resets results, progress, timings and errors), so no
 * display can outlive the state it shows. The model and the index live in the model worker; the state
 * holds their handles, and a job's AbortSignal is what cancels the worker's run.
 *
 * @example
 * const state = new PageState();
 * state.onChange(({ change }) => resetDisplays(change));
 * const signal = state.startJob('embed');
 * const version = state.documentsVersion;
 * state.setIndex(await worker.embed(model, docs, { maxLen, batchSize, signal, onProgress }), version, model);
 */
import type { Documents } from './documents.ts';
import type { AdapterSpec, DeviceInfo, IndexInfo } from './model-protocol.ts';

/** What the page needs to know of a loaded model (the model itself is in the worker). */
export interface PageModel {
  readonly label: string;
  /** The adapter found with the model, or null. */
  readonly adapter: { location: string } | null;
  /** Whether the adapter is applied now. */
  readonly adapterApplied: boolean;
  /** One line for the page: layers, sizes, added tokens, adapter. */
  describe(): string;
  destroy(): void;
}

/** What changed: the documents, the model (loaded, replaced or unloaded), the adapter, or the device. */
export type Change = 'documents' | 'model' | 'adapter' | 'device';

export interface ChangeEvent {
  change: Change;
  /** Whether embeddings were dropped (now or by an earlier change) since the model was loaded or the documents last embedded. */
  stale: boolean;
  /** Whether an embedding run was cancelled by it. */
  cancelled: boolean;
}

export type JobKind = 'load' | 'embed' | 'adapter';

/** `M`: the page's model handle (the model worker's `RemoteModel`; a stand-in in tests). */
export class PageState<M extends PageModel = PageModel> {
  /** The model worker's WebGPU device, or null (none yet, or lost). */
  device: DeviceInfo | null = null;
  /** The adapter the server has for the bundled model (`pnpm demo` trains one), or null. */
  demoAdapter: AdapterSpec | null = null;
  /** Whether the user wants an available adapter applied (the checkbox, while it is enabled). */
  wantAdapter = true;
  /** Documents from a file or Cranfield (with their ids) while the textarea still shows them unedited. */
  picked: Documents | null = null;
  private currentModel: M | null = null;
  private version = 0;
  private index: { search: IndexInfo; documentsVersion: number; model: M } | null = null;
  private running: { kind: JobKind; controller: AbortController } | null = null;
  private stale = false;
  private readonly listeners: ((e: ChangeEvent) => void)[] = [];

  get model(): M | null {
    return this.currentModel;
  }

  /** Bumped by every edit or replacement of the documents. */
  get documentsVersion(): number {
    return this.version;
  }

  /** The running job's kind, or null. */
  get job(): JobKind | null {
    return this.running?.kind ?? null;
  }

  /** The index, only while it was built from the documents shown and the model loaded. */
  get search(): IndexInfo | null {
    const i = this.index;
    return i && i.documentsVersion === this.version && i.model === this.currentModel ? i.search : null;
  }

  onChange(listener: (e: ChangeEvent) => void): void {
    this.listeners.push(listener);
  }

  /** The documents were edited or replaced (`picked` when they came with ids, else null). */
  documentsChanged(picked: Documents | null): void {
    this.picked = picked;
    this.version++;
    this.invalidate('documents');
  }

  /** Replaces the model (null: none), destroying the old one. */
  setModel(model: M | null): void {
    if (this.currentModel !== model) this.currentModel?.destroy();
    this.currentModel = model;
    this.invalidate('model');
    // A new model starts afresh: nothing embedded with it was lost.
    this.stale = false;
  }

  /** The loaded model's adapter was applied or removed: its embeddings changed. */
  adapterChanged(): void {
    this.invalidate('adapter');
  }

  /** The device is gone, and the model's buffers with it. */
  deviceLost(): void {
    this.device = null;
    this.currentModel = null;
    this.invalidate('device');
  }

  /** Starts the one job the page runs at a time; its signal aborts when what it works on changes. */
  startJob(kind: JobKind): AbortSignal {
    if (this.running) throw new Error(`A ${this.running.kind} job is already running.`);
    this.running = { kind, controller: new AbortController() };
    return this.running.controller.signal;
  }

  endJob(signal: AbortSignal): void {
    if (this.running?.controller.signal === signal) this.running = null;
  }

  /**
   * Keeps an index built from documents version `documentsVersion` with `model`; false (nothing kept) when
   * either changed while it was built.
   */
  setIndex(search: IndexInfo, documentsVersion: number, model: M): boolean {
    if (documentsVersion !== this.version || model !== this.currentModel) return false;
    this.index = { search, documentsVersion, model };
    this.stale = false;
    return true;
  }

  /** The one place that drops the index and cancels embedding. */
  private invalidate(change: Change): void {
    const embedding = this.running?.kind === 'embed';
    this.stale ||= this.index !== null || embedding;
    if (embedding) this.running!.controller.abort(new DOMException(`The ${change} changed.`, 'AbortError'));
    this.index = null;
    for (const listener of this.listeners) listener({ change, stale: this.stale, cancelled: embedding });
  }
}
