import { formatBytes, type QuantFormat } from '@llara/gpu';
import { estimateMemory, parameterCount } from '@llara/llama';
import type { Command } from 'commander';
import { checkQuantize, openModelOrFail } from '../model-loader.ts';
import { defaultModelDir } from '../paths.ts';
import { quantizeOption } from '../quantize-option.ts';
import { intFlag } from './options.ts';

type InfoFlags = { model?: string; batch: number; maxLen: number; json?: boolean; quantize?: QuantFormat };

export function registerModelInfo(program: Command): void {
  program
    .command('tokenize')
    .description('Print the token ids of TEXT (with BOS) as a JSON array.')
    .argument('<text>', 'text to tokenize')
    .option('--model <dir>', 'model folder whose tokenizer.json to use (default: bundled stories260K)')
    .option('--no-bos', 'leave out the BOS token')
    .addHelpText(
      'after',
      '\nExample:\n  pnpm llara tokenize --model data/models/stories260K "Once upon a time"',
    )
    .action(async (text: string, f: { model?: string; bos: boolean }) => {
      const opened = await openModelOrFail(f.model ?? defaultModelDir());
      console.log(JSON.stringify(opened.tokenizer!.encode(text, { addBos: f.bos })));
    });

  program
    .command('info')
    .description('Parameters, dtypes and a GPU memory estimate for a model folder.')
    .option('--model <dir>', 'model folder (default: bundled stories260K)')
    .option('--batch <n>', 'batch for the memory estimate', intFlag('--batch', 1), 8)
    .option('--max-len <n>', 'sequence length for the memory estimate', intFlag('--max-len', 1), 512)
    .option('--json', 'print JSON')
    .addOption(quantizeOption('estimate memory with the base block-quantized: q8, q4 or nf4'))
    .addHelpText(
      'after',
      '\nExample:\n  pnpm llara info --model data/models/stories260K --batch 8 --max-len 512 --quantize nf4',
    )
    .action(async (f: InfoFlags) => {
      const dir = f.model ?? defaultModelDir();
      const opened = await openModelOrFail(dir);
      checkQuantize(dir, opened, f.quantize);
      const c = opened.config;
      const dtypes = new Map<string, number>();
      for (const info of opened.checkpoint.infos.values())
        dtypes.set(info.dtype, (dtypes.get(info.dtype) ?? 0) + 1);
      const stored = dtypes.has('F16') ? 'f16' : dtypes.has('BF16') ? 'bf16' : 'f32';
      const weightDtype = f.quantize ?? c.quantization ?? stored;
      const forward = estimateMemory(c, { weightDtype, batch: f.batch, seqLen: f.maxLen, mode: 'forward' });
      const train = estimateMemory(c, {
        weightDtype,
        batch: f.batch,
        seqLen: f.maxLen,
        mode: 'train',
        loraR: 64,
        activationCheckpointing: true,
      });
      const info = {
        model: dir,
        parameters: parameterCount(c),
        layers: c.numLayers,
        hidden: c.hiddenSize,
        intermediate: c.intermediateSize,
        heads: c.numHeads,
        kv_heads: c.numKvHeads,
        head_dim: c.headDim,
        vocab: c.vocabSize,
        tied_embeddings: c.tieWordEmbeddings,
        rope_theta: c.ropeTheta,
        dtypes: Object.fromEntries(dtypes),
        checkpoint_bytes: opened.checkpoint.totalBytes,
        weights_on_gpu: weightDtype,
        memory_forward_bytes: forward.total,
        memory_train_lora64_bytes: train.total,
      };
      if (f.json) {
        console.log(JSON.stringify(info, null, 2));
        return;
      }
      console.log(
        [
          `model:       ${dir}`,
          `parameters:  ${info.parameters.toLocaleString('en-US')} (${c.numLayers} layers, hidden ${c.hiddenSize}, MLP ${c.intermediateSize}, ${c.numHeads} heads / ${c.numKvHeads} KV heads of ${c.headDim}, vocab ${c.vocabSize}${c.tieWordEmbeddings ? ', tied head' : ''})`,
          `dtypes:      ${[...dtypes].map(([d, n]) => `${d} x${n}`).join(', ')}; checkpoint ${formatBytes(info.checkpoint_bytes)}`,
          `GPU memory:  forward ${formatBytes(forward.total)}, LoRA r64 training ${formatBytes(train.total)} (batch ${f.batch} x ${f.maxLen}, ${weightDtype} base weights ${formatBytes(forward.weights)})`,
        ].join('\n'),
      );
    });
}
