export {
  type Batch,
  type BatchOptions,
  batchForRecipe,
  batchLayouts,
  chunks,
  type PretextArrays,
  pretextArrays,
  sortByLength,
} from './batch.ts';
export {
  backwardEmbeddings,
  type ContrastiveInspection,
  type ContrastiveOptions,
  type ContrastiveResult,
  type EmbedPass,
  embedTrain,
  plainContrastiveStep,
} from './contrastive-step.ts';
export {
  type BeirDoc,
  beirToPretrainRows,
  type ChunkOptions,
  chunksToPretrainRows,
  chunkText,
  docPassage,
  EpochSampler,
  type FinetuneRow,
  formatPretrainJsonl,
  groupRng,
  mixSeed,
  parseBeirCorpus,
  parseFinetuneJsonl,
  parsePretrainJsonl,
  Rng,
  type SamplerState,
  sampleGroup,
  splitSentences,
} from './data.ts';
export { Embedder, type EmbedderOptions, type EmbedProgress, type Role } from './embedder.ts';
export {
  contrastiveStep,
  type FinetuneConfig,
  type FinetuneMetrics,
  Finetuner,
  type FinetunerState,
} from './finetuner.ts';
export { forwardNoGraph, gradCacheStep } from './gradcache.ts';
export {
  bowTargets,
  IGNORE_INDEX,
  type Layout,
  type LayoutOptions,
  type Passage,
  type PretrainRow,
  passageLayout,
  pretrainLayout,
  queryLayout,
  type Readout,
  type RecipeTokens,
  recipeTokens,
  renderTemplate,
  specialIdsFor,
  type TokenizerLike,
} from './layout.ts';
export {
  type BarChartOptions,
  barChartSvg,
  type LineChartOptions,
  type LineSeries,
  lineChartSvg,
  niceTicks,
} from './loss-curve-svg.ts';
export {
  arLossRef,
  bowLossRef,
  bowTargetSet,
  combinePretrainLosses,
  flagBowLossRef,
  type InfoNceResult,
  infoNceRef,
  type LossResult,
  l2NormalizeBackwardRef,
  l2NormalizeRef,
  paperBowLossRef,
} from './losses.ref.ts';
export {
  createMetricsLog,
  formatMetricsLine,
  type MetricsLine,
  type MetricsLog,
  metricSeries,
  parseMetricsLog,
} from './metrics-log.ts';
export { ADAMW_DEFAULTS, AdamW, type AdamWConfig, type Param } from './optimizer.ts';
export { type PretextLosses, pretextStep } from './pretext-step.ts';
export {
  checkResumable,
  type PretrainSnapshot,
  pretrainRunConfig,
  RESUME_KEYS,
  restorePretrain,
  snapshotPretrain,
} from './pretrain-state.ts';
export { NonFiniteError, type PretrainConfig, Pretrainer } from './pretrainer.ts';
export {
  type BowLossSpec,
  type FinetuneDefaults,
  flagSpecialIds,
  getRecipe,
  type LoraDefaults,
  type PretrainDefaults,
  RECIPE_NAMES,
  RELEASED_BASE_VOCAB,
  type Recipe,
  type RecipeName,
  type RecipeTemplates,
  specialTokensToAppend,
  type Task,
} from './recipes.ts';
export {
  learningRate,
  parseScheduleKind,
  SCHEDULE_KINDS,
  type Schedule,
  type ScheduleKind,
  scheduleFactor,
  warmupStepsFromRatio,
} from './schedule.ts';
export { NLTK_ENGLISH_STOPWORDS, removeStopWords, STOPWORDS } from './stopwords.ts';
