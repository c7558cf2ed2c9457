export {
  addJudgement,
  type BeirDataset,
  type BeirDoc,
  type BeirQuery,
  documentText,
  parseCorpus,
  parseQrels,
  parseQueries,
  type Qrels,
  QRELS_HEADER,
} from './beir.ts';
export { compareHits, compareIds, rankDocuments, type SearchHit } from './ranking.ts';
