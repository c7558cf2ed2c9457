/**
 * The demo page's model worker: its own WebGPU device, the loaded model (with its adapter), and the
 * documents embedded with it. It answers the `ModelApi` calls of `model-protocol.ts` one at a time, so a
 * query never runs on a model being replaced; an embedding run checks for a cancel between batches.
 * A model load checks the new model completely before the old one is freed, as the page did itself.
 */
import type { Gpu } from '@llara/gpu';
import { createWebQuantizePool, type ModelFiles, memoryFiles } from '@llara/llama';
import { Embedder, getRecipe } from '@llara/trainer';
import { connectGpu, deviceSummary, formatCapabilities } from './device.ts';
import { DocumentSearch } from './document-search.ts';
import { type LoadedModel, type PreparedModel, prepareModel, uploadModel } from './load-model.ts';
import {
  BUNDLED_LABEL,
  defaultModelFiles,
  demoAdapterFiles,
  type ModelSource,
  sourceFromPicked,
} from './model-files.ts';
import type { AdapterSpec, ModelApi, ModelEvent, ModelInfo, ModelSpec } from './model-protocol.ts';
import { serveCalls } from './worker-rpc.ts';

const recipe = getRecipe('flag');
let gpu: Gpu | null = null;
let loaded: { id: number; model: LoadedModel } | null = null;
let index: { id: number; model: number; search: DocumentSearch } | null = null;
let nextId = 1;

function adapterFiles(spec: AdapterSpec | null): ModelFiles | null {
  if (!spec) return null;
  if (spec.kind === 'demo') return demoAdapterFiles(spec.base, spec.served);
  return memoryFiles(spec.files, spec.location);
}

function sourceOf(spec: ModelSpec): ModelSource {
  if (spec.kind === 'picked') return sourceFromPicked(spec.folderName, spec.picked);
  return {
    label: BUNDLED_LABEL,
    files: defaultModelFiles(spec.base, spec.served),
    adapter: adapterFiles(spec.adapter),
  };
}

function info(id: number, model: LoadedModel, loadMs: number): ModelInfo {
  return {
    id,
    label: model.label,
    description: model.describe(),
    adapter: model.adapter ? { location: model.adapter.location } : null,
    adapterApplied: model.adapterApplied,
    loadMs,
  };
}

/** The loaded model `id`, or an error when the page asks for one it no longer has. */
function current(id: number): LoadedModel {
  if (loaded?.id !== id) throw new Error('That model is no longer loaded: load it again.');
  return loaded.model;
}

function unload(): void {
  loaded?.model.destroy();
  loaded = null;
  index = null;
}

const { emit } = serveCalls<ModelApi, ModelEvent>({
  async connect() {
    const g = await connectGpu();
    g.onLost((e) => {
      if (gpu === g) {
        gpu = null;
        loaded = null;
        index = null;
      }
      emit({ type: 'device-lost', message: e.message });
    });
    gpu = g;
    return { summary: deviceSummary(g), capabilities: formatCapabilities(g.caps) };
  },

  async load({ spec, applyAdapter, quantize }, { progress }) {
    const g = gpu;
    if (!g) throw new Error('There is no WebGPU device to load the model on.');
    const source = sourceOf(spec);
    progress({ phase: 'checking', label: source.label });
    const prepared: PreparedModel = await prepareModel(source, recipe);
    // The old model's GPU memory is freed before the new one is uploaded.
    unload();
    progress({ phase: 'loading', label: source.label, fraction: 0 });
    const t0 = performance.now();
    // A quantized base is quantized on every core (nested workers), which end once it is loaded.
    const pool = quantize ? createWebQuantizePool() : null;
    let model: LoadedModel;
    try {
      model = await uploadModel(
        g,
        prepared,
        applyAdapter,
        (fraction) => progress({ phase: 'loading', label: source.label, fraction }),
        quantize,
        pool?.quantize,
      );
    } finally {
      await pool?.close();
    }
    loaded = { id: nextId++, model };
    return info(loaded.id, model, performance.now() - t0);
  },

  async setAdapter({ model: id, apply }) {
    const model = current(id);
    model.setAdapter(apply);
    index = null;
    return info(id, model, 0);
  },

  async unload({ model: id }) {
    if (loaded?.id === id) unload();
    return null;
  },

  async embed({ model: id, documents, maxLen, batchSize }, { signal, progress }) {
    const model = current(id);
    index = null;
    const embedder = new Embedder(model.model, model.tokenizer, model.recipe, {
      maxLen,
      batchSize,
      baseVocab: model.baseVocab,
    });
    const search = await DocumentSearch.build(embedder, documents, { signal, onProgress: progress });
    index = { id: nextId++, model: id, search };
    return {
      id: index.id,
      model: id,
      size: search.size,
      tokens: search.tokens,
      dim: embedder.dim,
      embedMs: search.embedMs,
      cut: search.cut,
    };
  },

  async search({ index: id, query, k }) {
    if (index?.id !== id || loaded?.id !== index.model)
      throw new Error('Those documents are no longer embedded: embed them again.');
    return index.search.search(query, k);
  },
});
