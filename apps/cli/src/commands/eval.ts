import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { QuantFormat } from '@llara/gpu';
import { type BeirDataset, evaluate, parseAnyQrels, parseTrecRun, type Qrels, type Run } from '@llara/index';
import { loadBeir, readTextFile } from '@llara/index/node';
import type { Command } from 'commander';
import { UserError } from '../errors.ts';
import { bm25Row, evaluateModel, formatTable, type MetricsRow } from '../evaluation.ts';
import { checkMaxLen } from '../max-len.ts';
import { loadModel } from '../model-loader.ts';
import { prepareOutputFile } from '../output-paths.ts';
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
        if (f.json) await prepareOutputFile(f.json, '--json');
        const data = await loadBeirOrFail(dir, f.split);
        noteUnknownDocs(data, dir);
        const loaded = await loadModel({
          model: f.model,
          adapter: f.adapter,
          recipe: f.recipe,
          quantize: f.quantize,
        });
        let rows: MetricsRow[];
        try {
          checkMaxLen(loaded, f.maxLen, ['query', 'passage']);
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
      let qrels: Qrels;
      let run: Run;
      try {
        qrels = parseAnyQrels(await readTextFile(f.qrels, 'Qrels file'), f.qrels);
        run = parseTrecRun(await readTextFile(f.run, 'Run file'), f.run);
      } catch (err) {
        throw new UserError((err as Error).message);
      }
      checkRunAgainstQrels(run, qrels, f);
      const e = evaluate(qrels, run);
      console.log(JSON.stringify({ ...e.metrics, queries: e.queries }, null, 2));
    });
}

/** Queries with at least one positive judgement: the ones trec_eval scores. */
function judged(qrels: Qrels): Set<string> {
  const out = new Set<string>();
  for (const [q, docs] of qrels) if ([...docs.values()].some((g) => g > 0)) out.add(q);
  return out;
}

/**
 * All zeros with exit 0 hides a wrong file: empty qrels, or a run whose query ids match none of them,
 * is refused; a run that is only partly judged is scored with a note saying so.
 */
export function checkRunAgainstQrels(run: Run, qrels: Qrels, f: { qrels: string; run: string }): void {
  const scored = judged(qrels);
  if (scored.size === 0)
    throw new UserError(
      `The qrels file ${f.qrels} judges no query relevant to any document, so there is nothing to score.`,
    );
  if (run.size === 0) throw new UserError(`The run file ${f.run} has no results.`);
  const unjudged = [...run.keys()].filter((q) => !scored.has(q));
  if (unjudged.length === run.size)
    throw new UserError(
      `None of the ${run.size} queries in ${f.run} (e.g. "${unjudged[0]}") is judged in ${f.qrels}; are they from the same collection?`,
    );
  if (unjudged.length > 0)
    process.stderr.write(
      `note: ${unjudged.length} of the ${run.size} queries in ${f.run} (e.g. "${unjudged[0]}") have no relevance judgement in ${f.qrels} and are not scored\n`,
    );
  const missing = [...scored].filter((q) => !run.has(q)).length;
  if (missing > 0)
    process.stderr.write(
      `note: ${missing} of the ${scored.size} judged queries have no results in ${f.run} and count as 0\n`,
    );
}

/** Judgements of documents the corpus lacks can never be retrieved: say so rather than score them silently. */
function noteUnknownDocs(data: BeirDataset, dir: string): void {
  const ids = new Set(data.corpus.map((d) => d.id));
  let unknown = 0;
  let example = '';
  for (const docs of data.qrels.values())
    for (const d of docs.keys())
      if (!ids.has(d)) {
        unknown++;
        example ||= d;
      }
  if (unknown > 0)
    process.stderr.write(
      `note: the qrels in ${dir} judge ${unknown} documents that its corpus lacks (e.g. "${example}"); no system can retrieve them\n`,
    );
}
