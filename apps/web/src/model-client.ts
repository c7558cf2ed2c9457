/**
 * The page's side of the model worker (`model-worker.ts`): typed calls, and handles for what lives in
 * the worker. A `RemoteModel` is the page's view of the loaded model (label, adapter, description);
 * an `IndexInfo` names the documents embedded with it. The page keeps these in its PageState, which
 * decides when they are stale; cancelling an embedding run's signal stops the worker's run at its next
 * batch.
 *
 * @example
 * const worker = new ModelWorker((message) => showError(message));
 * const device = await worker.connect();
 * const model = await worker.load({ kind: 'bundled', base, served, adapter: null }, true, undefined, onProgress);
 * const index = await worker.embed(model, docs, { maxLen: 128, batchSize: 16, signal });
 * const { hits } = await worker.search(index, 'lift of a wing', 10);
 */
import type { QuantFormat } from '@llara/gpu';
import type { Documents } from './documents.ts';
import type {
  DeviceInfo,
  EmbedProgress,
  IndexInfo,
  LoadProgress,
  ModelApi,
  ModelEvent,
  ModelInfo,
  ModelSpec,
  SearchResult,
} from './model-protocol.ts';
import type { PageModel } from './page-state.ts';
import { CallClient } from './worker-rpc.ts';

export class ModelWorker {
  private readonly calls: CallClient<ModelApi, ModelEvent>;

  /** Starts the worker; `onDeviceLost` gets the sentence when its device is lost. */
  constructor(onDeviceLost: (message: string) => void) {
    const worker = new Worker(new URL('./model-worker.ts', import.meta.url), {
      type: 'module',
      name: 'llara-model',
    });
    this.calls = new CallClient(
      worker,
      (event) => onDeviceLost(event.message),
      'The model worker failed to start.',
    );
  }

  /** Opens the worker's WebGPU device. */
  connect(): Promise<DeviceInfo> {
    return this.calls.call('connect', null);
  }

  /** Checks and loads a model, replacing the worker's current one only once the new one checks out. */
  async load(
    spec: ModelSpec,
    applyAdapter: boolean,
    quantize: QuantFormat | undefined,
    onProgress: (p: LoadProgress) => void,
  ): Promise<RemoteModel> {
    const info = await this.calls.call('load', { spec, applyAdapter, quantize }, { onProgress });
    return new RemoteModel(info, this.calls);
  }

  /** Embeds `documents` with `model`; rejects with the signal's AbortError when it aborts. */
  embed(
    model: RemoteModel,
    documents: Documents,
    options: { maxLen: number; batchSize: number; signal: AbortSignal; onProgress(p: EmbedProgress): void },
  ): Promise<IndexInfo> {
    const { maxLen, batchSize, signal, onProgress } = options;
    return this.calls.call(
      'embed',
      { model: model.id, documents, maxLen, batchSize },
      { signal, onProgress },
    );
  }

  search(index: IndexInfo, query: string, k: number): Promise<SearchResult> {
    return this.calls.call('search', { index: index.id, query, k });
  }
}

/** The loaded model as the page sees it; its weights are in the worker. */
export class RemoteModel implements PageModel {
  constructor(
    private info: ModelInfo,
    private readonly calls: CallClient<ModelApi, ModelEvent>,
  ) {}

  get id(): number {
    return this.info.id;
  }
  get label(): string {
    return this.info.label;
  }
  get adapter(): { location: string } | null {
    return this.info.adapter;
  }
  get adapterApplied(): boolean {
    return this.info.adapterApplied;
  }
  /** Upload time in the worker, ms. */
  get loadMs(): number {
    return this.info.loadMs;
  }

  describe(): string {
    return this.info.description;
  }

  /** Applies or removes the adapter (no-op without one); the model's embeddings change. */
  async setAdapter(apply: boolean): Promise<void> {
    this.info = { ...(await this.calls.call('setAdapter', { model: this.id, apply })), loadMs: this.loadMs };
  }

  /** Frees the model in the worker (which already did when it loaded another). */
  destroy(): void {
    void this.calls.call('unload', { model: this.id }).catch(() => {});
  }
}
