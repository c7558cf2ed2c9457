/**
 * The main job, end to end on the bundled defaults (stories260K + Cranfield), in one command:
 * BM25; embed with the untrained model (flag recipe: LLaRA's prompts and 16 special tokens appended
 * with mean-initialised rows); LLaRA pretext pretraining (EBAE + EBAR, LoRA) on the corpus itself;
 * embed again with the adapter; index; search; score. Writes DIR/metrics.json, DIR/adapter (PEFT),
 * DIR/report.md with the loss curves and a metrics chart, and names DIR on the last line.
 */

import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { QuantFormat } from '@llara/gpu';
import { initLoraWeights, LORA_TARGETS } from '@llara/llama';
import { barChartSvg, beirToPretrainRows, warmupStepsFromRatio } from '@llara/trainer';
import { lossCurve, runPretrain } from '@llara/trainer/node';
import type { Command } from 'commander';
import { bm25Row, evaluateModel, formatTable, type MetricsRow } from '../evaluation.ts';
import { loadModel } from '../model-loader.ts';
import { defaultBeirDir } from '../paths.ts';
import { formatSeconds, progress } from '../progress.ts';
import { quantizeOption } from '../quantize-option.ts';
import { loadBeirOrFail } from './eval.ts';
import { floatFlag, intFlag } from './options.ts';

export interface DemoFlags {
  model?: string;
  quantize?: QuantFormat;
  data?: string;
  out: string;
  split: string;
  steps: number;
  batch: number;
  lr: number;
  loraR: number;
  loraAlpha: number;
  maxLen: number;
  trainMaxLen: number;
  pretrainDocs: number;
  evalBatch: number;
  seed: number;
  ar: boolean;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'The main job: BM25 vs the untrained model vs LLaRA-pretrained (EBAE+EBAR, LoRA) on a BEIR set.',
    )
    .option('--model <dir>', 'HF LLaMA model folder (default: bundled stories260K)')
    .addOption(quantizeOption())
    .option('--data <dir>', 'BEIR folder (default: bundled Cranfield)')
    .option('--out <dir>', 'output folder', 'demo-output')
    .option('--split <name>', 'qrels split', 'test')
    .option('--steps <n>', 'pretraining optimizer steps', intFlag('--steps', 1), 150)
    .option('--batch <n>', 'pretraining sequences per step', intFlag('--batch', 1), 8)
    .option('--lr <lr>', 'peak learning rate (cosine schedule, 10% warm-up)', floatFlag('--lr', 0), 1e-2)
    .option('--lora-r <r>', 'LoRA rank', intFlag('--lora-r', 1), 16)
    .option('--lora-alpha <a>', 'LoRA alpha', floatFlag('--lora-alpha', 0), 32)
    .option('--max-len <n>', 'embedding length (prompt included)', intFlag('--max-len', 16), 128)
    .option(
      '--train-max-len <n>',
      'pretraining length (prompt and both suffixes included)',
      intFlag('--train-max-len', 48),
      160,
    )
    .option(
      '--pretrain-docs <n>',
      'corpus documents used for pretraining (0 = all); evaluation always uses all',
      intFlag('--pretrain-docs', 0),
      0,
    )
    .option('--eval-batch <n>', 'sequences per embedding forward pass', intFlag('--eval-batch', 1), 32)
    .option('--seed <n>', 'seed', intFlag('--seed', 0), 0)
    .option(
      '--ar',
      'add the next-token AR loss (flag releases have it on; here it competes with the bag-of-words loss for a tiny model)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  pnpm demo\n  pnpm demo -- --out runs/demo --steps 500\n  pnpm demo -- --model /models/Llama-2-7b-hf --data /data/beir/scifact --steps 1000 --batch 16 --max-len 256',
    )
    .action(async (f: DemoFlags) => {
      await demo(f);
    });
}

export async function demo(f: DemoFlags): Promise<void> {
  const started = performance.now();
  const out = resolve(f.out);
  await mkdir(out, { recursive: true });
  const dataDir = f.data ?? defaultBeirDir();
  const data = await loadBeirOrFail(dataDir, f.split);
  const docs = f.pretrainDocs > 0 ? data.corpus.slice(0, f.pretrainDocs) : data.corpus;
  const rows = beirToPretrainRows(docs, 'first-sentence');
  const say = (s: string) => process.stderr.write(`${s}\n`);
  say(
    `demo: ${basename(dataDir)} (${data.corpus.length} docs, ${data.qrels.size} judged queries); ` +
      `pretraining on ${rows.length} rows from ${docs.length} docs (title + first sentence -> rest): ` +
      `${f.steps} steps x ${f.batch} sequences, max length ${f.trainMaxLen}, LoRA r ${f.loraR} alpha ${f.loraAlpha}, lr ${f.lr} cosine; ` +
      `embedding max length ${f.maxLen}`,
  );

  say('[1/4] BM25');
  const rowsOut: MetricsRow[] = [bm25Row(data)];
  const loaded = await loadModel({ model: f.model, recipe: 'flag', quantize: f.quantize });
  const timings: Record<string, number> = {};
  try {
    say('[2/4] untrained model');
    const untrained = await evaluateModel(loaded, data, {
      maxLen: f.maxLen,
      batch: f.evalBatch,
      system: 'untrained',
    });
    rowsOut.push(untrained.row);
    timings.embed_untrained_s = untrained.seconds.corpus + untrained.seconds.queries;

    say(`[3/4] LLaRA pretext pretraining (EBAE + EBAR${f.ar ? ' + AR' : ''}, LoRA)`);
    const config = loaded.opened.config;
    const initial = initLoraWeights(
      {
        r: f.loraR,
        alpha: f.loraAlpha,
        dropout: 0,
        targets: [...LORA_TARGETS],
        useRslora: false,
        baseModel: loaded.opened.files.location,
        modulesToSave: [],
      },
      config,
      f.seed,
    );
    const bar = progress('pretrain', f.steps, 'steps');
    const t0 = performance.now();
    const trained = await runPretrain(loaded.model, config, loaded.tokenizer, rows, initial, {
      recipe: loaded.recipe,
      maxLen: f.trainMaxLen,
      batch: f.batch,
      gradAccum: 1,
      steps: f.steps,
      schedule: {
        kind: 'cosine',
        lr: f.lr,
        warmupSteps: warmupStepsFromRatio(0.1, f.steps),
        totalSteps: f.steps,
      },
      adamw: { lr: f.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 },
      seed: f.seed,
      removeStopWords: false,
      ar: Boolean(f.ar),
      baseVocab: loaded.baseVocab,
      out,
      saveEvery: Math.max(50, Math.ceil(f.steps / 4)),
      resume: false,
      // The demo's folder is its own: a rerun replaces the previous demo's training outputs.
      overwrite: true,
      onStep: (m) =>
        bar.update(m.step + 1, {
          loss: m.loss.toFixed(3),
          ebae: (m.bow_ebae ?? 0).toFixed(3),
          ebar: (m.bow_ebar ?? 0).toFixed(3),
        }),
    });
    bar.stop();
    timings.pretrain_s = (performance.now() - t0) / 1000;

    say('[4/4] LLaRA-pretrained model');
    const llara = await evaluateModel(loaded, data, {
      maxLen: f.maxLen,
      batch: f.evalBatch,
      system: 'llara',
    });
    rowsOut.push(llara.row);
    timings.embed_llara_s = llara.seconds.corpus + llara.seconds.queries;

    const first = trained.lines[0];
    const last = trained.lines.at(-1)!;
    const device = loaded.gpu.caps.adapter.device || loaded.gpu.caps.adapter.description;
    const metrics = {
      dataset: basename(dataDir),
      rows: rowsOut,
      device,
      settings: { ...f, out, model: loaded.opened.files.location, pretrain_rows: rows.length },
      pretraining: { first, last },
      timings_s: { ...timings, total: (performance.now() - started) / 1000 },
    };
    await writeFile(join(out, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
    await writeFile(join(out, 'loss-curve.svg'), lossCurve(trained.lines));
    await writeFile(
      join(out, 'metrics.svg'),
      barChartSvg({
        title: `${basename(dataDir)}: retrieval quality`,
        systems: rowsOut.map((r) => r.system),
        metrics: ['ndcg@10', 'mrr@10', 'recall@100', 'map'],
        values: rowsOut.map((r) => [r['ndcg@10'], r['mrr@10'], r['recall@100'], r.map]),
      }),
    );
    const table = formatTable(rowsOut);
    await writeFile(join(out, 'report.md'), report(metrics, table, first, last));
    console.log(table);
    say(`total ${formatSeconds(metrics.timings_s.total)} on ${device}`);
    console.log(`demo output: ${out}`);
  } finally {
    loaded.close();
  }
}

function report(
  m: { dataset: string; device: string; settings: object; timings_s: Record<string, number> },
  table: string,
  first: { loss: number; bow_ebae?: number; bow_ebar?: number },
  last: { loss: number; bow_ebae?: number; bow_ebar?: number },
): string {
  const t = m.timings_s;
  return `# LLaRA demo report

Dataset: ${m.dataset}. Device: ${m.device}. Date: ${new Date().toISOString().slice(0, 10)}.

## Retrieval (trec_eval definitions; ties by document id)

\`\`\`
${table}
\`\`\`

![metrics](metrics.svg)

## Pretext pretraining

Loss ${first.loss.toFixed(4)} -> ${last.loss.toFixed(4)}; EBAE ${first.bow_ebae?.toFixed(4)} -> ${last.bow_ebae?.toFixed(4)};
EBAR ${first.bow_ebar?.toFixed(4)} -> ${last.bow_ebar?.toFixed(4)} (per-step values in \`metrics.jsonl\`).

![loss curves](loss-curve.svg)

## Timings (seconds)

${Object.entries(t)
  .map(([k, v]) => `- ${k}: ${v.toFixed(1)}`)
  .join('\n')}

## Settings

\`\`\`json
${JSON.stringify(m.settings, null, 2)}
\`\`\`

The adapter is in \`adapter/\` (PEFT layout: \`adapter_config.json\`, \`adapter_model.safetensors\`).
`;
}
