import type { QuantFormat } from '@llara/gpu';
import { initLoraWeights, LORA_TARGETS, type LoraTarget } from '@llara/llama';
import { readAdapterFolder } from '@llara/llama/node';
import { NonFiniteError, parseScheduleKind, warmupStepsFromRatio } from '@llara/trainer';
import { readPretrainData, runPretrain } from '@llara/trainer/node';
import type { Command } from 'commander';
import { Interrupted, trainingError, UserError } from '../errors.ts';
import { checkMaxLen } from '../max-len.ts';
import { loadModel } from '../model-loader.ts';
import { printProfile, progress } from '../progress.ts';
import { quantizeOption } from '../quantize-option.ts';
import { checkTrainingOutputs } from '../training-outputs.ts';
import { floatFlag, fractionFlag, intFlag } from './options.ts';

export interface PretrainFlags {
  model?: string;
  quantize?: QuantFormat;
  data: string;
  recipe: string;
  out: string;
  initAdapter?: string;
  steps: number;
  batch: number;
  gradAccum: number;
  lr: number;
  lrSchedule: string;
  warmup?: number;
  weightDecay: number;
  maxGradNorm: number;
  loraR: number;
  loraAlpha: number;
  loraDropout: number;
  loraTargets: string;
  maxLen: number;
  log?: string;
  saveEvery: number;
  resume?: boolean;
  overwrite?: boolean;
  seed: number;
  ar: boolean;
  removeStopWords?: boolean;
  chunkWords: number;
}

export function registerPretrain(program: Command): void {
  program
    .command('pretrain')
    .description('LLaRA pretext training (EBAE + EBAR bag-of-words, optional AR) of a LoRA adapter.')
    .requiredOption(
      '--data <file>',
      'JSONL rows {"input", "output_summarize"?, "output_predict"} or a .txt file cut into chunks',
    )
    .requiredOption('--out <dir>', 'output folder: checkpoints, adapter/, metrics.jsonl, loss-curve.svg')
    .option('--model <dir>', 'HF LLaMA model folder (default: the bundled stories260K)')
    .addOption(quantizeOption('train LoRA on a frozen block-quantized base (QLoRA): q8, q4 or nf4'))
    .option('--recipe <name>', 'flag | paper', 'flag')
    .option('--init-adapter <dir>', 'start from this PEFT adapter exactly')
    .option('--steps <n>', 'optimizer steps', intFlag('--steps', 1), 100)
    .option('--batch <n>', 'sequences per micro-batch', intFlag('--batch', 1), 4)
    .option('--grad-accum <n>', 'micro-batches per optimizer step', intFlag('--grad-accum', 1), 1)
    .option('--lr <lr>', 'peak learning rate', floatFlag('--lr', 0), 1e-4)
    .option('--lr-schedule <kind>', 'constant | linear | cosine', 'constant')
    .option('--warmup <n>', 'warm-up steps (default 10% of --steps)', intFlag('--warmup', 0))
    .option('--weight-decay <w>', 'AdamW decoupled weight decay', floatFlag('--weight-decay', 0), 0)
    .option('--max-grad-norm <c>', 'global gradient-norm clip (0 = off)', floatFlag('--max-grad-norm', 0), 1)
    .option('--lora-r <r>', 'LoRA rank', intFlag('--lora-r', 1), 64)
    .option('--lora-alpha <a>', 'LoRA alpha', floatFlag('--lora-alpha', 0), 16)
    .option('--lora-dropout <p>', 'LoRA dropout', fractionFlag('--lora-dropout'), 0.1)
    .option('--lora-targets <list>', 'comma-separated projections', LORA_TARGETS.join(','))
    .option('--max-len <n>', 'longest sequence, prompts included', intFlag('--max-len', 8), 512)
    .option('--log <file>', 'metrics JSONL (default OUT/metrics.jsonl)')
    .option('--save-every <n>', 'checkpoint every N steps (and at the end)', intFlag('--save-every', 0), 50)
    .option('--resume', 'continue from the newest checkpoint in --out')
    .option('--overwrite', 'remove an earlier run in --out (checkpoints, adapter, metrics) before starting')
    .option('--seed <n>', 'seed for data order, LoRA init and dropout', intFlag('--seed', 0), 0)
    .option('--no-ar', 'turn the next-token AR loss off (flag has it on)')
    .option('--remove-stop-words', 'drop English stop words from the bag-of-words targets')
    .option('--chunk-words <n>', 'chunk size for .txt data', intFlag('--chunk-words', 8), 128)
    .addHelpText(
      'after',
      '\nExample:\n  pnpm llara pretrain --data data/goldens/llara-flag-stories260K/data.jsonl --out runs/pt --steps 20 --lora-r 8 --lr 1e-3',
    )
    .action(async (flags: PretrainFlags) => {
      await pretrainCommand(flags);
    });
}

export async function pretrainCommand(f: PretrainFlags): Promise<void> {
  const targets = f.loraTargets.split(',').map((s) => s.trim()) as LoraTarget[];
  for (const t of targets) {
    if (!LORA_TARGETS.includes(t))
      throw new UserError(`--lora-targets: "${t}" is not one of ${LORA_TARGETS.join(', ')}.`);
  }
  let schedule: ReturnType<typeof parseScheduleKind>;
  try {
    schedule = parseScheduleKind(f.lrSchedule);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  let rows: Awaited<ReturnType<typeof readPretrainData>>;
  try {
    rows = await readPretrainData(f.data, f.chunkWords);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  await checkTrainingOutputs('pretrain', f);
  if (f.batch * f.gradAccum > rows.length)
    process.stderr.write(
      `note: each step takes ${f.batch * f.gradAccum} sequences but ${f.data} has ${rows.length} rows, so a step repeats rows.\n`,
    );
  const loaded = await loadModel({ model: f.model, recipe: f.recipe, quantize: f.quantize });
  const { model, opened, tokenizer, recipe } = loaded;
  if (!recipe.loss) {
    loaded.close();
    throw new UserError(`Recipe "${recipe.name}" has no pretext objective; use --recipe flag or paper.`);
  }
  const config = opened.config;
  try {
    checkMaxLen(loaded, f.maxLen, ['pretrain']);
    const initial = f.initAdapter
      ? await readAdapterFolder(f.initAdapter, config).catch((e: Error) => {
          throw new UserError(e.message);
        })
      : initLoraWeights(
          {
            r: f.loraR,
            alpha: f.loraAlpha,
            dropout: f.loraDropout,
            targets,
            useRslora: false,
            baseModel: opened.files.location,
            modulesToSave: [],
          },
          config,
          f.seed,
        );
    const warmup = f.warmup ?? warmupStepsFromRatio(0.1, f.steps);
    let stop = false;
    const onSigint = () => {
      if (stop) process.exit(130);
      stop = true;
      process.stderr.write('\nstopping after this step and saving a checkpoint (Ctrl-C again to quit now)\n');
    };
    process.on('SIGINT', onSigint);
    process.stderr.write(
      `pretraining: ${rows.length} rows, recipe ${recipe.name}, ${f.steps} steps x ${f.batch * f.gradAccum} sequences, max length ${f.maxLen}, LoRA r ${initial.config.r} on ${initial.config.targets.join(',')}\n`,
    );
    const bar = progress('pretrain', f.steps, 'steps');
    if (process.env.LLARA_PROFILE) loaded.gpu.startProfiling();
    try {
      const result = await runPretrain(model, config, tokenizer, rows, initial, {
        recipe,
        maxLen: f.maxLen,
        batch: f.batch,
        gradAccum: f.gradAccum,
        steps: f.steps,
        schedule: { kind: schedule, lr: f.lr, warmupSteps: warmup, totalSteps: f.steps },
        adamw: {
          lr: f.lr,
          beta1: 0.9,
          beta2: 0.999,
          eps: 1e-8,
          weightDecay: f.weightDecay,
          maxGradNorm: f.maxGradNorm,
        },
        seed: f.seed,
        removeStopWords: Boolean(f.removeStopWords),
        ar: f.ar && Boolean(recipe.loss.ar),
        baseVocab: loaded.baseVocab,
        out: f.out,
        log: f.log,
        saveEvery: f.saveEvery,
        resume: Boolean(f.resume),
        overwrite: Boolean(f.overwrite),
        onStep: (m) =>
          bar.update(m.step + 1, { loss: m.loss.toFixed(4), 'tok/s': m.tokens_per_s.toFixed(0) }),
        shouldStop: () => stop,
      }).catch((e: Error) => {
        // A broken step or a checkpoint from another run is the user's to act on, not an internal bug.
        if (e instanceof NonFiniteError || /^(Cannot resume|Checkpoint)/.test(e.message))
          throw new UserError(e.message);
        throw trainingError(e, f.out);
      });
      bar.stop();
      if (process.env.LLARA_PROFILE) await printProfile(loaded.gpu);
      const last = result.lines.at(-1);
      console.log(
        JSON.stringify({
          adapter: result.adapterDir,
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
      process.off('SIGINT', onSigint);
    }
  } finally {
    loaded.close();
  }
}
