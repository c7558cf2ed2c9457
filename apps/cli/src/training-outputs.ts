import { openRunFolder } from '@llara/trainer/node';
import { UserError } from './errors.ts';
import { prepareOutputDir, prepareOutputFile } from './output-paths.ts';

/**
 * The output folder and `--log` of a training command, checked before the model loads: a folder that
 * holds another run is refused (unless --resume or --overwrite), and both must be writable.
 */
export async function checkTrainingOutputs(
  kind: 'pretrain' | 'finetune',
  f: { out: string; log?: string; resume?: boolean; overwrite?: boolean },
): Promise<void> {
  if (f.resume && f.overwrite)
    throw new UserError('--resume continues the run in --out and --overwrite replaces it; pass one of them.');
  await prepareOutputDir(f.out, '--out');
  if (f.log) await prepareOutputFile(f.log, '--log');
  // Refuses a taken folder; with --overwrite the trainer clears it later, once every input is checked.
  await openRunFolder(f.out, { kind, mode: f.resume || f.overwrite ? 'resume' : 'fresh', log: f.log });
}
