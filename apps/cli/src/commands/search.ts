import type { QuantFormat } from '@llara/gpu';
import { type FlatIndex, GpuFlatIndex, IvfIndex, type SearchHit } from '@llara/index';
import { loadIndex } from '@llara/index/node';
import type { Command } from 'commander';
import { baseFormat } from '../base-format.ts';
import { UserError } from '../errors.ts';
import { checkIndexEmbedder } from '../index-embedder.ts';
import { readIndexTexts } from '../index-texts.ts';
import { checkMaxLen } from '../max-len.ts';
import { checkQuantize, loadModel, openModelOrFail } from '../model-loader.ts';
import { defaultModelDir } from '../paths.ts';
import { quantizeOption } from '../quantize-option.ts';
import { embedderFor } from './embed.ts';
import { intFlag } from './options.ts';

export interface SearchResult {
  rank: number;
  id: string;
  score: number;
  title?: string;
  text?: string;
}

/** Exact search on the GPU when it takes the index, else on the CPU (same results either way). */
async function searchIndex(
  index: FlatIndex,
  gpu: GpuFlatIndex['gpu'],
  query: Float32Array,
  k: number,
  on: string,
): Promise<SearchHit[]> {
  if (on === 'gpu') {
    let gpuIndex: GpuFlatIndex | null = null;
    try {
      gpuIndex = new GpuFlatIndex(gpu, index.dims, { dtype: index.dtype });
      gpuIndex.addRaw(index.ids, index.store.raw());
      return (await gpuIndex.search(query, k))[0];
    } catch (e) {
      process.stderr.write(`note: searching on the CPU (${(e as Error).message})\n`);
    } finally {
      gpuIndex?.destroy();
    }
  }
  return (await index.search(query, k))[0];
}

function oneLine(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

interface SearchFlags {
  quantize?: QuantFormat;
  index: string;
  model?: string;
  adapter?: string;
  recipe: string;
  k: number;
  maxLen: number;
  json?: boolean;
  searchOn: string;
  nprobe?: number;
}

export function registerSearch(program: Command): void {
  program
    .command('search')
    .description('Embed a query and print the k best passages of a saved index (rank, id, score, text).')
    .argument('<query>', 'the query text')
    .requiredOption('--index <dir>', 'index directory from `llara index build`')
    .option('--model <dir>', 'HF LLaMA model folder (default: bundled stories260K)')
    .option('--adapter <dir>', 'PEFT LoRA adapter folder')
    .addOption(quantizeOption())
    .option('--recipe <name>', 'flag | paper | repllama', 'flag')
    .option('-k, --k <n>', 'how many hits', intFlag('-k', 1), 10)
    .option('--max-len <n>', 'longest query sequence, prompt included', intFlag('--max-len', 8), 256)
    .option('--search-on <device>', 'gpu | cpu (exact either way)', 'gpu')
    .option(
      '--nprobe <n>',
      'IVF indexes: lists to scan (default: the one saved with the index)',
      intFlag('--nprobe', 1),
    )
    .option('--json', 'print {"query", "hits": [{rank, id, score, text?}]}')
    .addHelpText(
      'after',
      '\nExample:\n  pnpm llara search --index index/ --adapter adapter/ -k 5 "what is a wing?"',
    )
    .action(async (query: string, f: SearchFlags) => {
      if (f.searchOn !== 'gpu' && f.searchOn !== 'cpu')
        throw new UserError(`--search-on must be gpu or cpu, got "${f.searchOn}".`);
      let index: FlatIndex | IvfIndex;
      try {
        index = await loadIndex(f.index);
      } catch (e) {
        throw new UserError((e as Error).message);
      }
      if (f.nprobe !== undefined && !(index instanceof IvfIndex))
        throw new UserError(`--nprobe applies to IVF indexes, and ${f.index} is an exact (flat) index.`);
      const modelDir = f.model ?? defaultModelDir();
      const opened = await openModelOrFail(modelDir);
      if (opened.config.hiddenSize !== index.dims)
        throw new UserError(
          `The index ${f.index} holds ${index.dims}-dimensional vectors but the model ${modelDir} embeds into ${opened.config.hiddenSize} dimensions; search with the model that built the index.`,
        );
      checkQuantize(modelDir, opened, f.quantize);
      await checkIndexEmbedder({
        index: f.index,
        recipe: f.recipe,
        modelDir,
        adapter: f.adapter,
        base: baseFormat(opened, f.quantize),
        quantize: f.quantize,
        user: 'this search',
        log: (line) => process.stderr.write(`${line}\n`),
      });
      const loaded = await loadModel({
        model: modelDir,
        adapter: f.adapter,
        recipe: f.recipe,
        quiet: true,
        quantize: f.quantize,
      });
      let hits: SearchHit[];
      try {
        checkMaxLen(loaded, f.maxLen, ['query']);
        const q = await embedderFor(loaded, f.maxLen, 1).embed([query], 'query');
        if (index instanceof IvfIndex) {
          const nprobe = Math.min(f.nprobe ?? index.nprobe, index.nlist);
          process.stderr.write(`note: approximate search (IVF, ${nprobe} of ${index.nlist} lists)\n`);
          hits = index.searchSync(q, f.k, nprobe)[0];
        } else hits = await searchIndex(index, loaded.gpu, q, f.k, f.searchOn);
      } finally {
        loaded.close();
      }
      const texts = await readIndexTexts(f.index, new Set(hits.map((h) => h.id)));
      const results: SearchResult[] = hits.map((h, r) => ({
        rank: r + 1,
        id: h.id,
        score: h.score,
        ...texts?.get(h.id),
      }));
      if (f.json) {
        console.log(JSON.stringify({ query, hits: results }));
        return;
      }
      const idWidth = Math.max(2, ...results.map((r) => r.id.length));
      for (const r of results) {
        const body =
          r.text === undefined ? '' : `  ${oneLine(r.title ? `${r.title}: ${r.text}` : r.text, 100)}`;
        console.log(`${String(r.rank).padStart(3)}  ${r.id.padEnd(idWidth)}  ${r.score.toFixed(4)}${body}`);
      }
    });
}
