/**
 * One run per output folder: a fresh run refuses a folder with another run's outputs, --overwrite
 * clears only those, and rotation deletes only the rotating run's checkpoints.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkpointDirName, pruneCheckpoints, writeCheckpoint } from './checkpoint-io.ts';
import { checkResumeKind, checkResumeLora, openRunFolder, RunFolderError } from './run-folder.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'llara-runfolder-'));

async function checkpoint(out: string, step: number, run: string) {
  await writeCheckpoint(join(out, checkpointDirName(step)), {
    state: { step, data: { seed: 0, epoch: 0, index: step }, seed: 0, config: {}, run },
  });
}

describe('openRunFolder', () => {
  it('refuses a folder that holds a run unless resumed or overwritten, and keeps unrelated files', async () => {
    const out = tempDir();
    writeFileSync(join(out, 'notes.txt'), 'mine');
    await expect(openRunFolder(out, { kind: 'pretrain', mode: 'fresh' })).resolves.toEqual({ outputs: [] });
    await checkpoint(out, 2, 'a');
    writeFileSync(join(out, 'metrics.jsonl'), '{}\n');
    const err = await openRunFolder(out, { kind: 'pretrain', mode: 'fresh' }).catch((e) => e);
    expect(err).toBeInstanceOf(RunFolderError);
    expect(err.message).toBe(
      `${out} already holds a training run (checkpoint-2, metrics.jsonl); pass --resume to continue it, --overwrite to replace it, or choose another --out.`,
    );
    await expect(openRunFolder(out, { kind: 'pretrain', mode: 'resume' })).resolves.toEqual({
      outputs: ['checkpoint-2', 'metrics.jsonl'],
    });
    await openRunFolder(out, { kind: 'pretrain', mode: 'overwrite' });
    expect(readdirSync(out)).toEqual(['notes.txt']);
  });

  it('refuses a file as the folder and a --log that holds metrics', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f'), 'x');
    await expect(openRunFolder(join(dir, 'f'), { kind: 'finetune', mode: 'fresh' })).rejects.toThrow(
      /is a file; give a folder for --out/,
    );
    writeFileSync(join(dir, 'log.jsonl'), '{"step": 0}\n');
    await expect(
      openRunFolder(join(dir, 'new'), { kind: 'finetune', mode: 'fresh', log: join(dir, 'log.jsonl') }),
    ).rejects.toThrow(/log\.jsonl already holds metrics; pass --resume/);
  });
});

describe('pruneCheckpoints with a run id', () => {
  it("deletes only the rotating run's checkpoints, however high another run's steps are", async () => {
    const out = tempDir();
    for (const step of [7, 8]) await checkpoint(out, step, 'other');
    for (const step of [1, 2, 3]) await checkpoint(out, step, 'mine');
    expect(await pruneCheckpoints(out, 2, 'mine')).toEqual([join(out, 'checkpoint-1')]);
    expect(readdirSync(out).sort()).toEqual(['checkpoint-2', 'checkpoint-3', 'checkpoint-7', 'checkpoint-8']);
  });
});

describe('resume checks', () => {
  it('names the other kind of run and the changed LoRA setting', () => {
    expect(() =>
      checkResumeKind('o/checkpoint-4', { config: { recipe: 'flag', batch: 2 } }, 'finetune'),
    ).toThrow(
      'Cannot resume from o/checkpoint-4: it is a pretraining checkpoint, and this is fine-tuning; choose another --out.',
    );
    expect(() => checkResumeKind('c', { kind: 'finetune', config: {} }, 'finetune')).not.toThrow();
    const lora = { r: 8, alpha: 16, dropout: 0.1, targets: ['q_proj', 'v_proj'] };
    expect(() => checkResumeLora('c', lora, { ...lora, targets: ['v_proj', 'q_proj'] })).not.toThrow();
    expect(() => checkResumeLora('c', lora, { ...lora, r: 4 })).toThrow(
      'Cannot resume from c: it was trained with LoRA r = 8, not 4; resume with the same LoRA settings or choose another --out.',
    );
    expect(() => checkResumeLora('c', lora, { ...lora, targets: ['q_proj'] })).toThrow(
      /LoRA targets = q_proj,v_proj, not q_proj;/,
    );
  });
});

it('leaves a folder without run outputs to a fresh run', async () => {
  const out = join(tempDir(), 'new', 'run');
  await openRunFolder(out, { kind: 'pretrain', mode: 'fresh' });
  expect(existsSync(out)).toBe(true);
  mkdirSync(join(out, 'adapter'));
  await expect(openRunFolder(out, { kind: 'pretrain', mode: 'fresh' })).rejects.toThrow(/\(adapter\)/);
});
