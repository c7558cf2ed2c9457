/**
 * The calls the demo page makes to its model worker (`model-worker.ts`), which owns the page's WebGPU
 * device, the loaded model and the embedded documents, so that loading, embedding and searching never
 * block the page (typing stays answered while the Train panel's worker trains). Everything here is plain
 * data that `postMessage` clones: picked folders travel as `File` objects, adapters as bytes or the
 * served demo adapter's address.
 */
import type { QuantFormat } from '@llara/gpu';
import type { Hit } from './document-search.ts';
import type { Documents } from './documents.ts';
import type { PickedFile } from './model-files.ts';
import type { ServedFiles } from './served-files.ts';
import type { Truncation } from './truncation.ts';

/** The worker's device, as the page shows it. */
export interface DeviceInfo {
  /** One line: adapter, f16, subgroups (`deviceSummary`). */
  summary: string;
  /** What the kernels will use (`formatCapabilities`). */
  capabilities: string;
}

/** An adapter to apply: the served demo adapter, or files in memory (a trained or uploaded adapter). */
export type AdapterSpec =
  | { kind: 'demo'; base: string; served: ServedFiles | null }
  | { kind: 'bytes'; location: string; files: Record<string, Uint8Array> };

/** Where the model comes from: the bundled stories260K (served next to the app), or a picked folder. */
export type ModelSpec =
  | { kind: 'bundled'; base: string; served: ServedFiles | null; adapter: AdapterSpec | null }
  | { kind: 'picked'; folderName: string; picked: PickedFile[] };

/** A loaded model, as the page describes it. */
export interface ModelInfo {
  /** Names this load; later calls say which model they mean. */
  id: number;
  label: string;
  /** One line for the page: layers, sizes, added tokens, adapter. */
  description: string;
  adapter: { location: string } | null;
  adapterApplied: boolean;
  /** Upload time (after the checks), ms. */
  loadMs: number;
}

/**
 * Loading reports its phase: `checking` once the source is known (its files are read and checked; a
 * failure now leaves the old model loaded), then `loading` once the old model is gone and the new one
 * uploads (`fraction` of its bytes).
 */
export type LoadProgress =
  | { phase: 'checking'; label: string }
  | { phase: 'loading'; label: string; fraction: number };

export interface EmbedProgress {
  done: number;
  total: number;
  tokens: number;
}

/** The documents embedded with a model, ready to search. */
export interface IndexInfo {
  id: number;
  model: number;
  size: number;
  tokens: number;
  dim: number;
  embedMs: number;
  cut: Truncation;
}

export interface SearchResult {
  hits: Hit[];
  /** Embedding the query and searching, ms, measured in the worker. */
  ms: number;
  cut: Truncation;
}

export type ModelApi = {
  /** Opens the worker's WebGPU device. */
  connect: { params: null; result: DeviceInfo; progress: never };
  /** Checks the model completely, and only then replaces the loaded one. */
  /** `quantize`: block-quantize the base as it streams in (docs/quantization.md). */
  load: {
    params: { spec: ModelSpec; applyAdapter: boolean; quantize?: QuantFormat };
    result: ModelInfo;
    progress: LoadProgress;
  };
  /** Applies or removes the loaded model's adapter. */
  setAdapter: { params: { model: number; apply: boolean }; result: ModelInfo; progress: never };
  /** Frees the model (no-op when `model` is no longer the loaded one). */
  unload: { params: { model: number }; result: null; progress: never };
  /** Embeds the documents; stops between batches when cancelled. */
  embed: {
    params: { model: number; documents: Documents; maxLen: number; batchSize: number };
    result: IndexInfo;
    progress: EmbedProgress;
  };
  /** The best `k` documents of an index for a query. */
  search: { params: { index: number; query: string; k: number }; result: SearchResult; progress: never };
};

/** What the worker says unasked. */
export type ModelEvent = { type: 'device-lost'; message: string };
