/**
 * Retrieval evaluation of an embedding model on a BEIR split, beside BM25: embed the corpus and the
 * judged queries, index (exact inner product on the GPU), search the top 1000, score with trec_eval's
 * definitions. Shared by `llara eval` and the demo.
 */
import type { Gpu } from '@llara/gpu';
import { type BeirDataset, Bm25Index, evaluate, GpuFlatIndex, type Run } from '@llara/index';
import { Embedder } from '@llara/trainer';
import type { LoadedModel } from './model-loader.ts';
import { progress } from './progress.ts';

/** One row of `llara eval --json` (and the demo's metrics.json). */
export interface MetricsRow {
  system: string;
  'ndcg@10': number;
  'mrr@10': number;
  'recall@100': number;
  map: number;
  [extra: string]: number | string;
}

export const DEPTH = 1000;

function row(system: string, run: Run, data: BeirDataset): MetricsRow {
  const e = evaluate(data.qrels, run, { ks: [10, 100] });
  const m = e.metrics;
  return {
    system,
    'ndcg@10': m['ndcg@10'],
    'mrr@10': m['mrr@10'],
    'recall@100': m['recall@100'],
    map: m.map,
  };
}

/** Queries that have at least one positive judgement (the only ones trec_eval scores). */
export function judgedQueries(data: BeirDataset) {
  return data.queries.filter((q) => [...(data.qrels.get(q.id)?.values() ?? [])].some((g) => g > 0));
}

export function bm25Row(data: BeirDataset): MetricsRow {
  const bm25 = Bm25Index.fromBeir(data.corpus);
  return row('bm25', bm25.run(judgedQueries(data), DEPTH), data);
}

export interface ModelEvalOptions {
  maxLen: number;
  batch: number;
  system: string;
  /** Progress-bar label (default: the system name). */
  label?: string;
}

export interface ModelEval {
  row: MetricsRow;
  run: Run;
  seconds: { corpus: number; queries: number; search: number };
}

export async function evaluateModel(
  loaded: LoadedModel,
  data: BeirDataset,
  o: ModelEvalOptions,
): Promise<ModelEval> {
  const { model, tokenizer, recipe, baseVocab } = loaded;
  const embedder = new Embedder(model, tokenizer, recipe, {
    maxLen: o.maxLen,
    batchSize: o.batch,
    baseVocab,
  });
  const label = o.label ?? o.system;
  let t = performance.now();
  const bar = progress(`${label}: embed corpus`, data.corpus.length, 'docs');
  const docs = await embedder.embed(
    data.corpus.map((d) => ({ title: d.title, text: d.text })),
    'passage',
    (p) => bar.update(p.done),
  );
  bar.stop();
  const corpusSeconds = (performance.now() - t) / 1000;
  const queries = judgedQueries(data);
  t = performance.now();
  const qbar = progress(`${label}: embed queries`, queries.length, 'queries');
  const qv = await embedder.embed(
    queries.map((q) => q.text),
    'query',
    (p) => qbar.update(p.done),
  );
  qbar.stop();
  const querySeconds = (performance.now() - t) / 1000;
  t = performance.now();
  const run = await searchAll(
    loaded.gpu,
    embedder.dim,
    data.corpus.map((d) => d.id),
    docs,
    queries.map((q) => q.id),
    qv,
  );
  const searchSeconds = (performance.now() - t) / 1000;
  return {
    row: row(o.system, run, data),
    run,
    seconds: { corpus: corpusSeconds, queries: querySeconds, search: searchSeconds },
  };
}

/** Exact inner-product top-1000 for every query, on the GPU. */
export async function searchAll(
  gpu: Gpu,
  dims: number,
  docIds: string[],
  docs: Float32Array,
  queryIds: string[],
  queries: Float32Array,
): Promise<Run> {
  const index = new GpuFlatIndex(gpu, dims);
  try {
    index.add(docIds, docs);
    const hits = await index.search(queries, Math.min(DEPTH, docIds.length));
    const run: Run = new Map();
    for (const [i, qid] of queryIds.entries()) run.set(qid, new Map(hits[i].map((h) => [h.id, h.score])));
    return run;
  } finally {
    index.destroy();
  }
}

export function formatTable(rows: MetricsRow[]): string {
  const cols = ['ndcg@10', 'mrr@10', 'recall@100', 'map'] as const;
  const w = Math.max(6, ...rows.map((r) => r.system.length));
  const head = `${'system'.padEnd(w)}  ${cols.map((c) => c.padStart(10)).join('  ')}`;
  const lines = rows.map(
    (r) => `${r.system.padEnd(w)}  ${cols.map((c) => r[c].toFixed(4).padStart(10)).join('  ')}`,
  );
  return [head, '-'.repeat(head.length), ...lines].join('\n');
}
