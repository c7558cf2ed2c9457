export { analyze, LUCENE_STOP_WORDS } from './analyzer.ts';
export {
  addJudgement,
  type BeirDataset,
  type BeirDoc,
  type BeirQuery,
  documentText,
  parseCorpus,
  parseQrels,
  parseQueries,
  QRELS_HEADER,
  type Qrels,
} from './beir.ts';
export { Bm25Index, type Bm25Options } from './bm25.ts';
export {
  type CandidateList,
  innerProductErrorBound,
  isUsable,
  type MergeResult,
  mergeCandidates,
} from './exact-rerank.ts';
export { checkSearch, dot, FlatIndex, type FlatIndexOptions, scanStore } from './flat-index.ts';
export { GpuFlatIndex, type GpuFlatIndexOptions } from './gpu-flat-index.ts';
export { IvfIndex, type IvfOptions, type IvfParts } from './ivf.ts';
export {
  type AssignmentRequest,
  defaultInit,
  type KMeansInit,
  type KMeansOptions,
  type KMeansResult,
  kmeans,
  kmeansSteps,
  nearestCentroid,
  nearestCentroids,
  normalizeRows,
  PLUS_PLUS_BUDGET,
} from './kmeans.ts';
export { kmeansOnGpu, nearestCentroidsOnGpu } from './kmeans-gpu.ts';
export {
  type EvaluateOptions,
  type Evaluation,
  evaluate,
  formatEvaluation,
  idealDcg,
  type Metrics,
  metricNames,
  queryMetrics,
  type Run,
} from './metrics.ts';
export {
  decodeNpy,
  decodeNpyHeader,
  encodeNpy,
  type NpyArray,
  type NpyData,
  type NpyDType,
  npyItemSize,
  numElements,
} from './npy.ts';
export { compareHits, compareIds, rankDocuments, type SearchHit } from './ranking.ts';
export { TopK } from './top-k.ts';
export {
  type EvalRunOptions,
  evalRun,
  formatTrecRun,
  parseAnyQrels,
  parseTrecQrels,
  parseTrecRun,
  type TrecRunFormat,
} from './trec.ts';
export type { VectorDType, VectorIndex } from './vector-index.ts';
export { checkRows, VectorStore } from './vector-store.ts';
