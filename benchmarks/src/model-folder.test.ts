/**
 * The model-folder rows (model-folder.bench.ts) at the smoke shape through the same path the 7B run
 * takes: `makeRandomModel` writes the folder, a reference of the hidden states (here the CPU reference
 * forward over the quantize -> dequantize weights, where the device run uses torch_7b_reference.py)
 * is checked before timing, and a wrong reference stops that format's rows.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Gpu } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { dequantizeMatrix, paddedCausalMask, quantizeMatrix } from '@llara/kernels';
import { llamaForwardRef, tensorToFloat32 } from '@llara/llama';
import { openModelFolder } from '@llara/llama/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRandomModel } from './make-random-model.ts';
import { benchModelFolder, type FolderReference, folderTorchPlan } from './model-folder.bench.ts';
import { rowProblems } from './rows.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await requestNodeGpu();
});
afterAll(() => gpu?.destroy());

describe('model-folder benchmarks (smoke)', () => {
  it('check each base against the reference, then time embedding and a QLoRA step', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-folder-'));
    const model = path.join(dir, 'model');
    const config = await makeRandomModel(model, { smoke: true });
    const opened = await openModelFolder(model, { tokenizer: false });
    const f32 = new Map<string, Float32Array>();
    for (const name of opened.checkpoint.names)
      f32.set(name, tensorToFloat32(await opened.checkpoint.read(name)));
    const nf4 = new Map(
      [...f32].map(([name, w]) => {
        const shape = opened.checkpoint.infos.get(name)!.shape;
        if (shape.length !== 2) return [name, w];
        const [rows, cols] = shape;
        return [name, dequantizeMatrix('nf4', quantizeMatrix('nf4', w, rows, cols), rows, cols)];
      }),
    );
    const [batch, seq] = [2, 6];
    const ids = Array.from({ length: batch * seq }, (_, i) => 3 + ((i * 37) % (config.vocabSize - 3)));
    const inputs = {
      ids,
      positions: ids.map((_, i) => i % seq),
      mask: paddedCausalMask(seq, new Array(batch).fill(seq), 'right'),
    };
    const f16Rows = Array.from(llamaForwardRef(config, f32, inputs));
    const nf4Rows = Array.from(llamaForwardRef(config, nf4, inputs));
    // q4's rows are deliberately nf4's: the q4 base must fail its check and not be timed.
    const ref: FolderReference = {
      reference: 'llamaForwardRef',
      batch,
      seq,
      ids,
      hidden: { f16: f16Rows, q4: nf4Rows, nf4: nf4Rows },
    };
    writeFileSync(path.join(dir, 'ref.json'), JSON.stringify(ref));

    const { rows, failures } = await benchModelFolder(gpu, {
      dir: model,
      ref: path.join(dir, 'ref.json'),
      smoke: true,
      formats: ['f16', 'q4', 'nf4'],
    });
    for (const r of rows) expect(rowProblems(r), r.key).toEqual([]);
    expect(rows.map((r) => r.key)).toEqual([
      'embed_folder|h128-L2|B4xT48|f16w',
      'embed_folder|h128-L2|B4xT48|nf4w',
      'train_qlora|h128-L2|B2xT48|nf4w',
    ]);
    for (const r of rows) expect(r.note).toMatch(/min row cosine 0\.99\d+|min row cosine 1\.0+ /);
    expect(rows[0].note).toMatch(/documents\/s/);
    expect(failures.map((f) => f.key)).toEqual(['embed_folder|h128-L2|B4xT48|q4w']);
    expect(failures[0].error).toMatch(/^check failed: min row cosine 0\.\d+ to llamaForwardRef q4/);
    // The QLoRA step holds the quantized base plus LoRA, its gradients and AdamW's moments.
    const train = rows[2].memory!;
    expect(train.optimizerBytes).toBe(train.trainableBytes);
    expect(train.weightsBytes).toBeLessThan(rows[0].memory!.weightsBytes);
    // Every PyTorch twin a row names is in the plan torch_bench.py runs.
    const planned = new Set(folderTorchPlan(config, true).map((s) => s.key));
    for (const r of rows) for (const k of r.torch) expect(planned.has(k), k).toBe(true);
  }, 120_000);
});
