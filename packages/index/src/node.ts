export { forEachFileLine, loadBeir, readCorpus, readQrels, readQueries } from './beir-node.ts';
