import { readFile } from 'node:fs/promises';
import type { QuantFormat } from '@llara/gpu';
import { decodeUtf8, writeNpy } from '@llara/index/node';
import { paddedCausalMask } from '@llara/kernels';
import type { Command } from 'commander';
import { UserError } from '../errors.ts';
import { warnBeyondPositions } from '../max-len.ts';
import { loadModel } from '../model-loader.ts';
import { prepareOutputFile, samePath } from '../output-paths.ts';
import { quantizeOption } from '../quantize-option.ts';

/** Parses FILE.json: a JSON array of token-id arrays. */
export function parseIdsFile(text: string, file: string): number[][] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new UserError(`${file} is not valid JSON.`);
  }
  if (
    !Array.isArray(v) ||
    v.length === 0 ||
    !v.every((s) => Array.isArray(s) && s.length > 0 && s.every(Number.isInteger))
  ) {
    throw new UserError(`${file} must hold a non-empty JSON array of non-empty arrays of integer token ids.`);
  }
  return v as number[][];
}

type HiddenFlags = { ids: string; out: string; model?: string; adapter?: string; quantize?: QuantFormat };

export function registerHidden(program: Command): void {
  program
    .command('hidden')
    .description(
      'Final-norm hidden states of token-id sequences, each run on its own (positions 0..len-1, causal).',
    )
    .requiredOption('--ids <file>', 'JSON array of token-id arrays')
    .requiredOption('--out <file>', 'float32 .npy of shape [n, max_len, hidden], zero past each sequence end')
    .option('--model <dir>', 'HF LLaMA model folder (default: bundled stories260K)')
    .option('--adapter <dir>', 'PEFT LoRA adapter folder')
    .addOption(quantizeOption())
    .addHelpText(
      'after',
      '\nExample:\n  echo "[[1, 403, 407]]" > ids.json && pnpm llara hidden --ids ids.json --out hidden.npy',
    )
    .action(async (f: HiddenFlags) => {
      let bytes: Uint8Array;
      try {
        bytes = await readFile(f.ids);
      } catch {
        throw new UserError(`The ids file ${f.ids} cannot be read (does it exist?).`);
      }
      let text: string;
      try {
        text = decodeUtf8(bytes, f.ids);
      } catch (e) {
        throw new UserError((e as Error).message);
      }
      const seqs = parseIdsFile(text, f.ids);
      if (await samePath(f.ids, f.out))
        throw new UserError(`--out ${f.out} is the ids file --ids; choose another path.`);
      await prepareOutputFile(f.out, '--out');
      // `repllama` adds no tokens, so the model runs exactly as the checkpoint defines it.
      const loaded = await loadModel({
        model: f.model,
        adapter: f.adapter,
        recipe: 'repllama',
        quantize: f.quantize,
      });
      try {
        const vocab = loaded.model.shape.vocabSize;
        seqs.forEach((s, i) => {
          const bad = s.find((id) => id < 0 || id >= vocab);
          if (bad !== undefined)
            throw new UserError(
              `${f.ids}: sequence ${i} has token id ${bad}, outside the vocabulary 0..${vocab - 1}.`,
            );
        });
        const T = Math.max(...seqs.map((s) => s.length));
        warnBeyondPositions(loaded, T, 'a sequence of length');
        const H = loaded.model.shape.hiddenSize;
        const ids = new Int32Array(seqs.length * T);
        const positions = new Int32Array(seqs.length * T);
        seqs.forEach((s, b) => {
          s.forEach((id, t) => {
            ids[b * T + t] = id;
            positions[b * T + t] = t;
          });
        });
        const mask = paddedCausalMask(
          T,
          seqs.map((s) => s.length),
          'right',
        );
        const dev = loaded.model.upload({ ids, positions, mask });
        const hidden = loaded.model.forward(dev);
        const out = (await loaded.gpu.read(hidden)) as Float32Array;
        for (const [b, s] of seqs.entries()) out.fill(0, (b * T + s.length) * H, (b + 1) * T * H);
        hidden.release();
        dev.release();
        await writeNpy(f.out, { dtype: 'f4', shape: [seqs.length, T, H], data: out });
        console.log(JSON.stringify({ out: f.out, shape: [seqs.length, T, H], dtype: 'float32' }));
      } finally {
        loaded.close();
      }
    });
}
