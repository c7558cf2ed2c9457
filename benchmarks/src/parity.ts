/**
 * Our GPU forward against Hugging Face transformers on the same checkpoints and inputs: the files that
 * `packages/llama/test/transformers_parity.py` writes (one JSON per model folder: the reference it ran,
 * the folder, and per case the ids, position ids, mask description, compared rows and the final
 * post-norm hidden states at those rows) are replayed through `uploadModel` + `LlamaModel.forward`
 * (with the case's PEFT adapter where it names one) and compared row by row.
 *
 * ```ts
 * const results = await runParity(gpu, '/tmp/out/transformers-hidden', { repo: process.cwd() });
 * ```
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Gpu, Tolerance } from '@llara/gpu';
import { type ForwardCase, LoraGpu, maskFromJson, uploadModel } from '@llara/llama';
import { openModelFolder, readAdapterFolder } from '@llara/llama/node';
import { type CheckResult, compare, cosine, toleranceText } from './check-result.ts';
import { errorMessage } from './rows.ts';

/** A forward case with the adapter folder it was computed with (null: none). */
export type ParityCase = ForwardCase & { adapter: string | null };

export interface ParityFile {
  reference: string;
  model: string;
  /** Model folder relative to the repository root. */
  folder: string;
  cases: ParityCase[];
}

/** f32 weights: the tolerance of the GPU-vs-reference model tests. */
const TOL_F32: Tolerance = { atol: 1e-4, rtol: 1e-4 };
/** 16-bit weights may run on f16 tensor cores (activations rounded to f16). */
const TOL_16BIT: Tolerance = { atol: 2e-2, rtol: 2e-2 };
const MIN_COSINE = 0.9999;

/** Reads every `*.json` parity file in `dir` (sorted by name). */
export function readParityFiles(dir: string): ParityFile[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    throw new Error(`The parity folder ${dir} does not exist or cannot be read.`);
  }
  if (names.length === 0) throw new Error(`The parity folder ${dir} holds no .json files.`);
  return names.sort().map((n) => {
    const file = path.join(dir, n);
    let json: ParityFile;
    try {
      json = JSON.parse(readFileSync(file, 'utf8')) as ParityFile;
    } catch (e) {
      throw new Error(`${file} is not valid JSON (${errorMessage(e)}).`);
    }
    if (typeof json.folder !== 'string' || !Array.isArray(json.cases))
      throw new Error(`${file} has no "folder" or "cases": it was not written by transformers_parity.py.`);
    return json;
  });
}

export async function runParity(gpu: Gpu, dir: string, opts: { repo: string }): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const file of readParityFiles(dir)) {
    const t0 = performance.now();
    let opened: Awaited<ReturnType<typeof openModelFolder>>;
    try {
      opened = await openModelFolder(path.resolve(opts.repo, file.folder), { tokenizer: false });
    } catch (e) {
      results.push({
        name: `parity ${file.model}`,
        status: 'error',
        maxAbsError: null,
        tolerance: '',
        detail: errorMessage(e),
        seconds: (performance.now() - t0) / 1000,
      });
      continue;
    }
    const dtype = opened.checkpoint.infos.get('model.embed_tokens.weight')?.dtype ?? 'F32';
    const tol = dtype === 'F32' ? TOL_F32 : TOL_16BIT;
    const model = await uploadModel(gpu, opened.config, opened.checkpoint);
    try {
      for (const c of file.cases) {
        const t1 = performance.now();
        const name = `parity ${file.model} ${c.name} (${dtype} weights${c.adapter ? ', LoRA' : ''})`;
        try {
          if (c.adapter) {
            const lora = await readAdapterFolder(path.resolve(opts.repo, c.adapter), opened.config);
            model.lora = LoraGpu.upload(gpu, model.shape, lora);
          }
          const dev = model.upload({
            ids: Int32Array.from(c.ids),
            positions: Int32Array.from(c.positions),
            mask: maskFromJson(c.mask),
          });
          const hidden = model.forward(dev);
          const all = (await gpu.read(hidden)) as Float32Array;
          hidden.release();
          dev.release();
          const H = opened.config.hiddenSize;
          const got = new Float32Array(c.rows.length * H);
          c.rows.forEach((r, i) => {
            got.set(all.subarray(r * H, (r + 1) * H), i * H);
          });
          const report = compare('hidden', got, c.hidden, tol);
          let minCos = 1;
          for (let i = 0; i < c.rows.length; i++) {
            const cs = cosine(got.subarray(i * H, (i + 1) * H), c.hidden.slice(i * H, (i + 1) * H));
            if (Number.isNaN(cs) || cs < minCos) minCos = cs;
          }
          const ok = report.ok && minCos >= MIN_COSINE;
          results.push({
            name,
            status: ok ? 'pass' : 'fail',
            maxAbsError: report.maxAbsError,
            tolerance: `${toleranceText(tol)}, min row cosine >= ${MIN_COSINE}`,
            detail: `${c.rows.length} rows vs ${file.reference}: ${report.message}; min cosine ${minCos.toFixed(7)}`,
            seconds: (performance.now() - t1) / 1000,
          });
        } catch (e) {
          results.push({
            name,
            status: 'error',
            maxAbsError: null,
            tolerance: toleranceText(tol),
            detail: errorMessage(e),
            seconds: (performance.now() - t1) / 1000,
          });
        } finally {
          model.lora?.destroy();
          model.lora = null;
        }
      }
    } finally {
      model.destroy();
      gpu.pool.trim();
    }
  }
  return results;
}
