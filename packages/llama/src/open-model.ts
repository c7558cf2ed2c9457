/**
 * Opening a model folder (HF layout) the same way from disk, dropped files or a URL: config.json is
 * parsed and checked, the checkpoint's headers are read and checked against it (names, shapes,
 * dtypes), and the tokenizer, when present, is checked against the config. No weights are read yet.
 *
 * @example
 * const model = await openModel(memoryFiles(droppedFiles));
 * const weights = await readAllFloat32(model.checkpoint, (p) => bar(p.loadedBytes / p.totalBytes));
 */
import { type LlamaConfig, parseLlamaConfig } from './config.ts';
import { describeFile, type ModelFiles, readJson } from './files.ts';
import { checkTensorsAgainstConfig, tensorToFloat32 } from './safetensors.ts';
import { Checkpoint, type LoadProgress, streamTensors, type TensorSource } from './sharded.ts';
import { checkTokenizerMatchesModel, LlamaTokenizer } from './tokenizer.ts';

export interface OpenedModel {
  files: ModelFiles;
  config: LlamaConfig;
  checkpoint: Checkpoint;
  /** Null when the folder has no tokenizer.json (or it was not asked for). */
  tokenizer: LlamaTokenizer | null;
}

export async function openModel(
  files: ModelFiles,
  options: { tokenizer?: boolean } = {},
): Promise<OpenedModel> {
  const configLabel = describeFile(files, 'config.json');
  if (!(await files.has('config.json')))
    throw new Error(`${configLabel} does not exist, so this is not a Hugging Face model folder.`);
  const config = parseLlamaConfig(await readJson(files, 'config.json'), configLabel);
  const checkpoint = await Checkpoint.open(files);
  checkTensorsAgainstConfig(checkpoint.infos, config, (n) => checkpoint.where(n), configLabel);
  let tokenizer: LlamaTokenizer | null = null;
  if (options.tokenizer ?? (await files.has('tokenizer.json'))) {
    tokenizer = await LlamaTokenizer.fromFiles(files);
    checkTokenizerMatchesModel(tokenizer, config, configLabel);
  }
  return { files, config, checkpoint, tokenizer };
}

/** Every tensor of `source` as f32 (F16/BF16 converted), for small models and CPU references. */
export async function readAllFloat32(
  source: TensorSource,
  onProgress?: (p: LoadProgress) => void,
): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for await (const { name, tensor } of streamTensors(source, source.names, onProgress))
    out.set(name, tensorToFloat32(tensor, `tensor ${name}`));
  return out;
}
