import { DeviceLostError, type Gpu, type PoolStats, type QuantFormat } from '@llara/gpu';
import { dot, type FlatIndex, IvfIndex, type SearchHit, TopK } from '@llara/index';
import { loadIndex } from '@llara/index/node';
import type { OpenedModel } from '@llara/llama';
import type { Embedder, Layout, Passage, Role } from '@llara/trainer';
import { type BaseFormat, baseFormat } from '../base-format.ts';
import { embedderFor } from '../commands/embed.ts';
import { UserError } from '../errors.ts';
import { checkIndexEmbedder } from '../index-embedder.ts';
import { readIndexTexts } from '../index-texts.ts';
import { checkMaxLen } from '../max-len.ts';
import { checkQuantize, type LoadedModel, loadModel, openModelOrFail } from '../model-loader.ts';
import { defaultModelDir } from '../paths.ts';
import { Batcher, type BatchingMode, type BatchStats } from './batcher.ts';
import { overLimit, unavailable } from './errors.ts';
import { LIMIT_FLAGS, type ServeLimits } from './limits.ts';
import { probeBatching } from './probe.ts';

export interface EngineOptions {
  model?: string;
  adapter?: string;
  recipe: string;
  /** Block-quantize the base as it loads (`--quantize`). */
  quantize?: QuantFormat;
  index?: string;
  limits: ServeLimits;
  /** Where notes go (the CLI: stderr). */
  log: (line: string) => void;
  onBatch?: (b: BatchStats) => void;
  onReload?: () => void;
  /** Forces a batching mode instead of measuring it (tests). */
  batching?: BatchingMode;
}

export type EngineState = 'loading' | 'ready' | 'reloading' | 'failed' | 'closed';

export interface ServedIndex {
  dir: string;
  index: FlatIndex | IvfIndex;
  texts: Map<string, { title?: string; text: string }> | null;
}

const RELOAD_TRIES = 5;

/**
 * Loads an index directory and refuses one of another model's dimensions or base quantization, in one
 * sentence (other recipe, model or adapter: a note).
 */
async function openIndex(
  dir: string,
  modelDir: string,
  opened: OpenedModel,
  o: EngineOptions,
): Promise<ServedIndex> {
  const hidden = opened.config.hiddenSize;
  let index: FlatIndex | IvfIndex;
  try {
    index = await loadIndex(dir);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  if (index.dims !== hidden)
    throw new UserError(
      `The index ${dir} holds ${index.dims}-dimensional vectors but the model ${modelDir} embeds into ${hidden} dimensions; serve it with the model that built it.`,
    );
  await checkIndexEmbedder({
    index: dir,
    recipe: o.recipe,
    modelDir,
    adapter: o.adapter,
    base: baseFormat(opened, o.quantize),
    quantize: o.quantize,
    user: 'this server',
    log: o.log,
  });
  return { dir, index, texts: await readIndexTexts(dir) };
}

export class Engine {
  state: EngineState = 'loading';
  /** How the batcher may mix rows (measured at load, see probe.ts). */
  mode: BatchingMode = 'single';
  reloads = 0;
  readonly batcher: Batcher;
  private loaded: LoadedModel | null = null;
  private embedder: Embedder | null = null;
  private stopLost: (() => void) | null = null;
  private reloading: Promise<void> | null = null;

  private constructor(
    readonly options: EngineOptions,
    readonly modelDir: string,
    readonly served: ServedIndex | null,
    /** The base-weight format the model runs in (base-format.ts), for /info. */
    readonly base: BaseFormat,
  ) {
    this.batcher = new Batcher(
      () => Promise.reject(unavailable('unavailable', 'The model is not loaded yet.')),
      {
        maxBatchTokens: options.limits.maxBatchTokens,
        maxBatchRequests: options.limits.maxBatchRequests,
        padTo: 1,
        mode: 'single',
        onBatch: options.onBatch,
      },
    );
  }

  /** Checks the model folder and index (no GPU yet), then loads the model. User mistakes are UserErrors. */
  static async open(o: EngineOptions): Promise<Engine> {
    const modelDir = o.model ?? defaultModelDir();
    const opened = await openModelOrFail(modelDir);
    checkQuantize(modelDir, opened, o.quantize);
    const served = o.index ? await openIndex(o.index, modelDir, opened, o) : null;
    const engine = new Engine(o, modelDir, served, baseFormat(opened, o.quantize));
    await engine.load();
    return engine;
  }

  get gpu(): Gpu | null {
    return this.loaded?.gpu ?? null;
  }

  get dim(): number {
    return this.loaded?.model.shape.hiddenSize ?? 0;
  }

  get recipeName(): string {
    return this.loaded?.recipe.name ?? this.options.recipe;
  }

  get device(): string {
    const a = this.loaded?.gpu.caps.adapter;
    return a ? a.device || a.description || a.vendor || 'unknown' : 'none';
  }

  gpuPool(): PoolStats | null {
    return this.loaded ? { ...this.loaded.gpu.pool.stats } : null;
  }

  private async load(): Promise<void> {
    const o = this.options;
    const loaded = await loadModel({
      model: this.modelDir,
      adapter: o.adapter,
      recipe: o.recipe,
      quiet: true,
      quantize: o.quantize,
    });
    try {
      const embedder = embedderFor(loaded, o.limits.maxLen, o.limits.maxBatchRequests);
      checkMaxLen(loaded, o.limits.maxLen, ['query', 'passage']);
      const mode = o.batching ?? (o.limits.maxBatchRequests > 1 ? await probeBatching(embedder) : 'single');
      if (this.state === 'closed') {
        loaded.close();
        return;
      }
      this.loaded = loaded;
      this.embedder = embedder;
      this.mode = mode;
      Object.assign(this.batcher.options, { padTo: loaded.recipe.padToMultipleOf, mode });
      const pool = loaded.gpu.pool;
      this.batcher.setRun(async (layouts) => {
        const rows = await embedder.embedLayouts(layouts);
        // Every batch shape (rows x padded length) leaves its own buffer sizes in the pool; under a
        // mixed load they would pile up (150 MiB after 300 requests on stories260K). Free buffers
        // beyond the largest batch's working set are released, so GPU memory stays bounded.
        if (pool.stats.allocatedBytes - pool.stats.inUseBytes > pool.stats.peakInUseBytes) pool.trim();
        return rows;
      });
      this.stopLost = loaded.gpu.onLost((e) => void this.onLost(e));
      this.state = 'ready';
    } catch (e) {
      loaded.close();
      throw e;
    }
  }

  /** Device lost: fail what waits with 503, then load again on a new device (a few tries). */
  private onLost(e: DeviceLostError): Promise<void> {
    if (this.reloading || this.state === 'closed') return this.reloading ?? Promise.resolve();
    this.state = 'reloading';
    this.options.log(`${e.message.replace(/\.$/, '')}; loading the model again on a new device.`);
    this.batcher.failAll(
      unavailable(
        'unavailable',
        'The GPU device was lost; the model is being reloaded, so retry shortly.',
        5,
      ),
    );
    this.reloading = (async () => {
      await this.batcher.idle();
      this.release();
      for (let attempt = 1; attempt <= RELOAD_TRIES && this.state === 'reloading'; attempt++) {
        try {
          await this.load();
          this.reloads++;
          this.options.onReload?.();
          this.options.log(`model reloaded on ${this.device}; serving again.`);
          return;
        } catch (err) {
          this.options.log(`reload ${attempt} of ${RELOAD_TRIES} failed: ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, 500 * attempt));
        }
      }
      if (this.state === 'reloading') this.state = 'failed';
    })().finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  /** Resolves when a reload in progress has ended (tests). */
  async settled(): Promise<void> {
    await this.reloading;
  }

  private release(): void {
    this.stopLost?.();
    this.stopLost = null;
    try {
      this.loaded?.close();
    } catch {
      // A lost device may refuse to be destroyed twice; nothing else holds it.
    }
    this.loaded = null;
    this.embedder = null;
  }

  private ready(): Embedder {
    if (this.state === 'ready' && this.embedder) return this.embedder;
    if (this.state === 'failed')
      throw unavailable(
        'unavailable',
        'The GPU device was lost and the model could not be loaded again.',
        30,
      );
    if (this.state === 'closed') throw unavailable('shutting_down', 'The server is shutting down.');
    throw unavailable(
      'unavailable',
      `The model is ${this.state === 'loading' ? 'loading' : 'being reloaded'}; retry shortly.`,
      5,
    );
  }

  /**
   * The recipe's layout of one input. Past `--max-len` tokens it is refused (413) unless `truncate`,
   * which cuts the text as `llara embed` does. `n` is the input's position, named in the error.
   */
  layout(input: string | Passage, role: Role, truncate: boolean, n = 0): Layout {
    const item = typeof input === 'string' ? (role === 'passage' ? { text: input } : input) : input;
    const l = this.ready().layout(item, role);
    if (l.truncated && !truncate)
      throw overLimit(
        `Input ${n} is longer than ${this.options.limits.maxLen} tokens with the ${role} prompt (${LIMIT_FLAGS.maxLen}); shorten it or send "truncate": true.`,
      );
    return l;
  }

  /** Embeddings of `layouts` through the batcher (one Float32Array each). */
  async embed(layouts: Layout[], signal?: AbortSignal): Promise<Float32Array[]> {
    this.ready();
    try {
      return await this.batcher.submit(layouts, signal);
    } catch (e) {
      if (e instanceof DeviceLostError)
        throw unavailable(
          'unavailable',
          'The GPU device was lost; the model is being reloaded, so retry shortly.',
          5,
        );
      throw e;
    }
  }

  /**
   * The k best passages for an embedded query: over the listed ids only (exact) when `ids` is given,
   * else over the index (exact, or IVF with `nprobe` lists).
   */
  search(query: Float32Array, k: number, ids?: readonly string[], nprobe?: number): SearchHit[] {
    const index = this.served!.index;
    if (ids) {
      const top = new TopK(k);
      for (const id of new Set(ids)) {
        const v = index.get(id);
        if (v) top.push(id, dot(query, 0, v, 0, index.dims));
      }
      return top.sorted();
    }
    if (index instanceof IvfIndex)
      return index.searchSync(query, k, Math.min(nprobe ?? index.nprobe, index.nlist))[0];
    return index.searchSync(query, k)[0];
  }

  /** Stops serving: waits for queued work, then frees the model and the device. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    await this.batcher.idle();
    this.state = 'closed';
    await this.reloading;
    this.release();
  }
}
