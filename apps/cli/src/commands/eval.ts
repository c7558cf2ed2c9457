import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { QuantFormat } from '@llara/gpu';
import { evalRunFiles, loadBeir } from '@llara/index/node';
import type { Command } from 'commander';
import { UserError } from '../errors.ts';
import { bm25Row, evaluateModel, formatTable, type MetricsRow } from '../evaluation.ts';
import { loadModel } from '../model-loader.ts';
import { defaultBeirDir } from '../paths.ts';
import { quantizeOption } from '../quantize-option.ts';
import { intFlag } from './options.ts';

export async function loadBeirOrFail(dir: string, split: string) {
  try {
    return await loadBeir(dir, split);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description(
      'Embed a BEIR corpus and its queries, search, and print nDCG@10 / MRR@10 / Recall@100 / MAP beside BM25.',
    )
    .option(
      '--beir <dir>',
      'BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv (default: bundled Cranfield)',
    )
    .option('--model <dir>', 'HF LLaMA model folder (default: bundled stories260K)')
    .option('--adapter <dir>', 'PEFT LoRA adapter folder')
    .addOption(quantizeOption())
    .option('--recipe <name>', 'flag | paper | repllama', 'flag')
    .option('--split <name>', 'qrels split', 'test')
    .option('--max-len <n>', 'longest sequence, prompt included', intFlag('--max-len', 8), 256)
    .option('--batch <n>', 'sequences per forward pass', intFlag('--batch', 1), 32)
    .option('--json <file>', 'also write {"dataset", "rows": [...]} to this file')
    .addHelpText(
      'after',
      '\nExample:\n  pnpm llara eval --beir data/cranfield --recipe flag --json eval.json',
    )
    .action(
      async (f: {
        beir?: string;
        model?: string;
        quantize?: QuantFormat;
        adapter?: string;
        recipe: string;
        split: string;
        maxLen: number;
        batch: number;
        json?: string;
      }) => {
        const dir = f.beir ?? defaultBeirDir();
        const data = await loadBeirOrFail(dir, f.split);
        const loaded = await loadModel({
          model: f.model,
          adapter: f.adapter,
          recipe: f.recipe,
          quantize: f.quantize,
        });
        let rows: MetricsRow[];
        try {
          const bm25 = bm25Row(data);
          const { row } = await evaluateModel(loaded, data, {
            maxLen: f.maxLen,
            batch: f.batch,
            system: 'model',
          });
          rows = [bm25, row];
        } finally {
          loaded.close();
        }
        console.log(formatTable(rows));
        if (f.json) await writeFile(f.json, `${JSON.stringify({ dataset: basename(dir), rows }, null, 2)}\n`);
      },
    );

  program
    .command('eval-run')
    .description('Score a TREC run file against qrels with trec_eval definitions; prints JSON.')
    .requiredOption(
      '--qrels <file>',
      "qrels: BEIR tsv ('query-id corpus-id score' header) or TREC ('qid 0 docid rel')",
    )
    .requiredOption('--run <file>', "TREC run: 'qid Q0 docid rank score tag' per line")
    .addHelpText(
      'after',
      '\nExample:\n  pnpm llara eval-run --qrels data/cranfield/qrels/test.tsv --run bm25.trec',
    )
    .action(async (f: { qrels: string; run: string }) => {
      let e: Awaited<ReturnType<typeof evalRunFiles>>;
      try {
        e = await evalRunFiles(f.qrels, f.run);
      } catch (err) {
        throw new UserError((err as Error).message);
      }
      console.log(JSON.stringify({ ...e.metrics, queries: e.queries }, null, 2));
    });
}
