/**
 * IR metrics with trec_eval's definitions (as BEIR reports them through pytrec_eval):
 * - ranking: `rankDocuments` (score desc as float32, then document id desc; the run's rank column is ignored),
 * - nDCG@k (`ndcg_cut`): DCG = sum of grade / log2(rank + 1) over the top k with grade > 0; the ideal DCG
 *   sorts the query's positive grades in decreasing order and cuts at k,
 * - MRR@k: 1 / rank of the first document with grade > 0 within the top k, else 0,
 * - Recall@k: positive documents in the top k / all positive documents of the query,
 * - MAP (`map`, no cut): mean over positive documents of the precision at their rank (0 when not retrieved).
 * Queries without a positive judgement are skipped; a judged query missing from the run scores 0 (`trec_eval -c`).
 */
import type { Qrels } from './beir.ts';
import { rankDocuments } from './ranking.ts';

/** A run: query id -> (document id -> score). Higher scores rank first. */
export type Run = Map<string, Map<string, number>>;

/** Which cutoffs to report. nDCG, MRR and recall are each reported at every k; MAP uses the full ranking. */
export interface EvaluateOptions {
  /** Cutoffs for nDCG@k, MRR@k and Recall@k (default [10, 100]). */
  ks?: readonly number[];
  /** Also return each query's metrics. */
  perQuery?: boolean;
}

/** Metric name -> value, e.g. `{ 'ndcg@10': 0.33, 'mrr@10': 0.49, 'recall@100': 0.69, map: 0.27 }`. */
export type Metrics = Record<string, number>;

export interface Evaluation {
  /** Means over the evaluated queries. */
  metrics: Metrics;
  /** Number of queries evaluated (those with at least one positive judgement). */
  queries: number;
  /** Query id -> that query's metrics, when asked for. */
  perQuery?: Map<string, Metrics>;
}

/** The metric names `evaluate` reports for the given cutoffs, in report order. */
export function metricNames(ks: readonly number[]): string[] {
  const names: string[] = [];
  for (const m of ['ndcg', 'mrr', 'recall']) for (const k of ks) names.push(`${m}@${k}`);
  names.push('map');
  return names;
}

/** Ideal DCG at k from a query's grades: positive grades, largest first, discounted by log2(rank + 1). */
export function idealDcg(grades: Iterable<number>, k: number): number {
  const positive = [...grades].filter((g) => g > 0).sort((a, b) => b - a);
  let sum = 0;
  for (let i = 0; i < Math.min(k, positive.length); i++) sum += positive[i] / Math.log2(i + 2);
  return sum;
}

/** One query's metrics from its ranked document ids (best first) and its judgements. */
export function queryMetrics(
  ranked: readonly string[],
  judged: ReadonlyMap<string, number>,
  ks: readonly number[],
): Metrics {
  let numRel = 0;
  for (const g of judged.values()) if (g > 0) numRel++;
  const out: Metrics = {};
  for (const k of ks) {
    let dcg = 0;
    let rr = 0;
    let hits = 0;
    for (let i = 0; i < Math.min(k, ranked.length); i++) {
      const g = judged.get(ranked[i]) ?? 0;
      if (g <= 0) continue;
      dcg += g / Math.log2(i + 2);
      if (rr === 0) rr = 1 / (i + 1);
      hits++;
    }
    const ideal = idealDcg(judged.values(), k);
    out[`ndcg@${k}`] = ideal > 0 ? dcg / ideal : 0;
    out[`mrr@${k}`] = rr;
    out[`recall@${k}`] = numRel > 0 ? hits / numRel : 0;
  }
  let relSoFar = 0;
  let precisionSum = 0;
  for (let i = 0; i < ranked.length; i++) {
    if ((judged.get(ranked[i]) ?? 0) <= 0) continue;
    relSoFar++;
    precisionSum += relSoFar / (i + 1);
  }
  out.map = numRel > 0 ? precisionSum / numRel : 0;
  return out;
}

function checkCutoffs(ks: readonly number[]): void {
  for (const k of ks) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`Metric cutoff ${k} is not a positive integer.`);
  }
  if (new Set(ks).size !== ks.length) throw new RangeError(`Metric cutoffs ${ks.join(', ')} repeat a value.`);
}

function checkScores(qid: string, docs: ReadonlyMap<string, number>): void {
  for (const [docId, score] of docs) {
    if (Number.isNaN(score))
      throw new Error(`The run's score for query "${qid}" and document "${docId}" is NaN.`);
  }
}

/**
 * Scores a run against qrels with trec_eval's definitions (see the file comment).
 * @example
 * const qrels = new Map([['q1', new Map([['d1', 1]])]]);
 * const run = new Map([['q1', new Map([['d1', 0.2], ['d2', 0.9]])]]);
 * evaluate(qrels, run, { ks: [10] }).metrics['mrr@10']; // 0.5
 */
export function evaluate(qrels: Qrels, run: Run, options: EvaluateOptions = {}): Evaluation {
  const ks = options.ks ?? [10, 100];
  checkCutoffs(ks);
  const names = metricNames(ks);
  const sums: Metrics = Object.fromEntries(names.map((n) => [n, 0]));
  const perQuery = options.perQuery ? new Map<string, Metrics>() : undefined;
  let queries = 0;
  for (const [qid, judged] of qrels) {
    if (![...judged.values()].some((g) => g > 0)) continue;
    const docs = run.get(qid);
    if (docs) checkScores(qid, docs);
    const m = queryMetrics(docs ? rankDocuments(docs) : [], judged, ks);
    for (const n of names) sums[n] += m[n];
    perQuery?.set(qid, m);
    queries++;
  }
  const metrics: Metrics = {};
  for (const n of names) metrics[n] = queries > 0 ? sums[n] / queries : 0;
  return perQuery ? { metrics, queries, perQuery } : { metrics, queries };
}

/**
 * Formats an evaluation as trec_eval-style lines: `name<TAB>all<TAB>value` (4 decimals), plus `num_q`.
 * @example formatEvaluation(evaluate(qrels, run)) // "ndcg@10\tall\t0.3311\n..."
 */
export function formatEvaluation(e: Evaluation, digits = 4): string {
  const lines = Object.entries(e.metrics).map(([n, v]) => `${n}\tall\t${v.toFixed(digits)}`);
  lines.push(`num_q\tall\t${e.queries}`);
  return `${lines.join('\n')}\n`;
}
