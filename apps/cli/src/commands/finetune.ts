/**
 * `llara finetune`: contrastive fine-tuning of a LoRA adapter (the trainer's `runFinetune` does the
 * work; this file maps flags, progress on stderr and the one-line JSON result on stdout).
 */
import type { QuantFormat } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { LORA_TARGETS, type LoraTarget } from '@llara/llama';
import { getRecipe, NonFiniteError, SCHEDULE_KINDS } from '@llara/trainer';
import { FinetuneInputError, runFinetune } from '@llara/trainer/node';
import type { Command } from 'commander';
import { Interrupted, trainingError, UserError } from '../errors.ts';
import { defaultModelDir } from '../paths.ts';
import { type Progress, printProfile, progress } from '../progress.ts';
import { quantizeOption } from '../quantize-option.ts';
import { checkTrainingOutputs } from '../training-outputs.ts';
import { floatFlag, fractionFlag, intFlag, positiveFlag } from './options.ts';

export interface FinetuneFlags {
  model?: string;
  quantize?: QuantFormat;
  adapter?: string;
  data: string;
  recipe: string;
  out: string;
  steps: number;
  batch: number;
  group?: number;
  tau?: number;
  gradCacheChunk: number;
  gradAccum: number;
  lr?: number;
  lrSchedule: string;
  warmup?: number;
  weightDecay: number;
  maxGradNorm: number;
  queryMaxLen?: number;
  passageMaxLen?: number;
  loraR?: number;
  loraAlpha?: number;
  loraDropout?: number;
  loraTargets?: string;
  saveEvery: number;
  log?: string;
  resume?: boolean;
  overwrite?: boolean;
  seed: number;
}

export function registerFinetune(program: Command): void {
  program
    .command('finetune')
    .description(
      'Contrastive fine-tuning (InfoNCE: 1 positive + hard negatives per query, in-batch negatives) of a LoRA adapter.',
    )
    .requiredOption(
      '--data <file>',
      'JSONL rows {"query", "pos": [...], "neg": [...]} (strings or {"title", "text"})',
    )
    .requiredOption('--out <dir>', 'output folder: checkpoints, adapter/, metrics.jsonl, loss-curve.svg')
    .option('--model <dir>', 'HF LLaMA model folder (default: the bundled stories260K)')
    .addOption(quantizeOption('train LoRA on a frozen block-quantized base (QLoRA): q8, q4 or nf4'))
    .option(
      '--adapter <dir>',
      "starting PEFT adapter, e.g. a pretrain run's OUT/adapter (default: a fresh LoRA)",
    )
    .option('--recipe <name>', 'flag | paper | repllama', 'flag')
    .option('--steps <n>', 'optimizer steps', intFlag('--steps', 1), 100)
    .option('--batch <n>', 'queries per micro-batch', intFlag('--batch', 1), 4)
    .option(
      '--group <n>',
      "passages per query: 1 positive + n-1 hard negatives (default: the recipe's)",
      intFlag('--group', 1),
    )
    .option('--tau <t>', "InfoNCE temperature (default: the recipe's)", positiveFlag('--tau'))
    .option(
      '--grad-cache-chunk <n>',
      'GradCache: sequences per forward pass, so memory holds one chunk (0 = whole batch at once)',
      intFlag('--grad-cache-chunk', 0),
      0,
    )
    .option('--grad-accum <n>', 'micro-batches per optimizer step', intFlag('--grad-accum', 1), 1)
    .option('--lr <lr>', "peak learning rate (default: the recipe's)", floatFlag('--lr', 0))
    .option('--lr-schedule <kind>', SCHEDULE_KINDS.join(' | '), 'linear')
    .option('--warmup <n>', "warm-up steps (default: the recipe's ratio of --steps)", intFlag('--warmup', 0))
    .option('--weight-decay <w>', 'AdamW decoupled weight decay', floatFlag('--weight-decay', 0), 0)
    .option('--max-grad-norm <c>', 'global gradient-norm clip (0 = off)', floatFlag('--max-grad-norm', 0), 1)
    .option(
      '--query-max-len <n>',
      "longest query, prompt included (default: the recipe's)",
      intFlag('--query-max-len', 1),
    )
    .option(
      '--passage-max-len <n>',
      "longest passage, prompt included (default: the recipe's)",
      intFlag('--passage-max-len', 1),
    )
    .option('--lora-r <r>', "rank of a fresh adapter (default: the recipe's)", intFlag('--lora-r', 1))
    .option(
      '--lora-alpha <a>',
      "alpha of a fresh adapter (default: the recipe's)",
      floatFlag('--lora-alpha', 0),
    )
    .option(
      '--lora-dropout <p>',
      "dropout of a fresh adapter (default: the recipe's)",
      fractionFlag('--lora-dropout'),
    )
    .option('--lora-targets <list>', "projections of a fresh adapter (default: the recipe's)")
    .option('--save-every <n>', 'checkpoint every N steps (and at the end)', intFlag('--save-every', 0), 50)
    .option('--log <file>', 'metrics JSONL (default OUT/metrics.jsonl)')
    .option('--resume', 'continue from the newest checkpoint in --out')
    .option('--overwrite', 'remove an earlier run in --out (checkpoints, adapter, metrics) before starting')
    .option(
      '--seed <n>',
      'seed for data order, negative sampling, LoRA init and dropout',
      intFlag('--seed', 0),
      0,
    )
    .addHelpText(
      'after',
      '\nExample:\n  pnpm llara finetune --adapter runs/pt/adapter --data train.jsonl --recipe flag --out runs/ft \\\n    --steps 200 --batch 4 --group 8 --tau 0.02 --grad-cache-chunk 8 --lr 3e-4 --save-every 50',
    )
    .action(async (flags: FinetuneFlags) => {
      await finetuneCommand(flags);
    });
}

function loraTargets(list: string | undefined): LoraTarget[] | undefined {
  if (list === undefined) return undefined;
  const targets = list.split(',').map((s) => s.trim()) as LoraTarget[];
  for (const t of targets) {
    if (!LORA_TARGETS.includes(t))
      throw new UserError(`--lora-targets: "${t}" is not one of ${LORA_TARGETS.join(', ')}.`);
  }
  return targets;
}

export async function finetuneCommand(f: FinetuneFlags): Promise<void> {
  try {
    getRecipe(f.recipe);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  if (f.adapter && (f.loraR ?? f.loraAlpha ?? f.loraDropout ?? f.loraTargets) !== undefined)
    throw new UserError(
      '--lora-r, --lora-alpha, --lora-dropout and --lora-targets shape a fresh adapter, so they cannot go with --adapter.',
    );
  const targets = loraTargets(f.loraTargets);
  await checkTrainingOutputs('finetune', f);
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write('\nstopping after this step and saving a checkpoint (Ctrl-C again to quit now)\n');
  };
  process.on('SIGINT', onSigint);
  let loadBar: Progress | null = null;
  let bar: Progress | null = null;
  let startStep = 0;
  const gpu = await requestNodeGpu();
  try {
    const result = await runFinetune({
      gpu,
      model: f.model ?? defaultModelDir(),
      quantize: f.quantize,
      adapter: f.adapter,
      lora: { r: f.loraR, alpha: f.loraAlpha, dropout: f.loraDropout, targets },
      data: f.data,
      recipe: f.recipe,
      out: f.out,
      steps: f.steps,
      batch: f.batch,
      groupSize: f.group,
      tau: f.tau,
      chunkSize: f.gradCacheChunk,
      gradAccum: f.gradAccum,
      lr: f.lr,
      lrSchedule: f.lrSchedule,
      warmup: f.warmup,
      weightDecay: f.weightDecay,
      maxGradNorm: f.maxGradNorm,
      queryMaxLen: f.queryMaxLen,
      passageMaxLen: f.passageMaxLen,
      saveEvery: f.saveEvery,
      log: f.log,
      resume: Boolean(f.resume),
      overwrite: Boolean(f.overwrite),
      seed: f.seed,
      onLoad: (done, total) => {
        loadBar ??= progress('loading weights', total, 'bytes');
        loadBar.update(done);
      },
      onStart: (info) => {
        loadBar?.stop();
        for (const note of info.notes) process.stderr.write(`note: ${note}\n`);
        const s = info.settings;
        process.stderr.write(
          `fine-tuning on ${info.device}: ${info.rows} rows, recipe ${s.recipe}, ${s.steps} steps x ${s.batch * s.gradAccum} queries x group ${s.groupSize}, tau ${s.tau}, lengths ${s.queryMaxLen}/${s.passageMaxLen}${s.chunkSize > 0 ? `, GradCache chunks of ${s.chunkSize}` : ''}, LoRA r ${info.lora.r} on ${info.lora.targets.join(',')}${info.resumedFrom ? `, resumed from ${info.resumedFrom}` : ''}\n`,
        );
        // The bar counts this session's steps, so its rate and ETA stay right after a resume.
        startStep = info.startStep;
        bar = progress(
          startStep > 0 ? `finetune (resumed at step ${startStep})` : 'finetune',
          s.steps - startStep,
          'steps',
        );
        if (process.env.LLARA_PROFILE) gpu.startProfiling();
      },
      onStep: (m, p) =>
        bar?.update(p.done - startStep, { loss: m.loss.toFixed(4), 'tok/s': m.tokens_per_s.toFixed(0) }),
      shouldStop: () => stop,
    }).catch((e: Error) => {
      if (e instanceof FinetuneInputError || e instanceof NonFiniteError) throw new UserError(e.message);
      throw trainingError(e, f.out);
    });
    (bar as Progress | null)?.stop();
    if (process.env.LLARA_PROFILE) await printProfile(gpu);
    const last = result.lines.at(-1);
    console.log(
      JSON.stringify({
        adapter: result.adapterDir,
        log: result.logFile,
        steps: last ? last.step + 1 : 0,
        loss: last?.loss ?? null,
        stopped_early: result.stoppedEarly,
      }),
    );
    if (result.stoppedEarly)
      throw new Interrupted(
        `stopped early; the checkpoint is in ${f.out}, so rerun the same command with --resume to continue.`,
      );
  } finally {
    (loadBar as Progress | null)?.stop();
    process.off('SIGINT', onSigint);
    gpu.destroy();
  }
}
