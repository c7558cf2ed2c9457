export { writeFileAtomic } from './atomic-write.ts';
export { forEachFileLine, loadBeir, readCorpus, readQrels, readQueries } from './beir-node.ts';
export {
  INDEX_FORMAT,
  INDEX_VERSION,
  type IndexFileEntry,
  type IndexHeader,
  type SaveIndexOptions,
  saveIndex,
} from './index-dir.ts';
export { loadIndex, parseIndexHeader } from './index-dir-load.ts';
export { LanceStore, type LanceStoreOptions } from './lancedb.ts';
export { readNpy, writeNpy } from './npy-node.ts';
export { type HnswOptions, type PgDocument, PgVectorIndex, type PgVectorOptions } from './pgvector.ts';
export {
  addShards,
  MANIFEST_FILE,
  parseManifest,
  readManifest,
  readShards,
  SHARDS_FORMAT,
  SHARDS_VERSION,
  type ShardData,
  type ShardEntry,
  type ShardManifest,
  ShardWriter,
  type ShardWriterOptions,
} from './shards.ts';
export { decodeUtf8, readUtf8Lines } from './text-lines.ts';
export { evalRunFiles, readTextFile, writeTrecRun } from './trec-node.ts';
