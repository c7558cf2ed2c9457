import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type CheckpointContent,
  checkpointDirName,
  decodeFloatSafetensors,
  encodeFloatSafetensors,
  latestCheckpoint,
  OPTIMIZER_FILE,
  pruneCheckpoints,
  readCheckpoint,
  writeCheckpoint,
} from './checkpoint-io.ts';

let out: string;
beforeEach(async () => {
  out = await mkdtemp(join(tmpdir(), 'llara-ckpt-'));
});
afterEach(async () => {
  await rm(out, { recursive: true, force: true });
});

function content(step: number): CheckpointContent {
  return {
    state: {
      step,
      data: { seed: 7, epoch: 0, index: step * 2 },
      seed: 7,
      config: { recipe: 'flag', lr: 0.01 },
    },
    optimizer: {
      'm.q_proj.lora_A': { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, step]) },
      'v.q_proj.lora_A': { shape: [2, 3], data: new Float32Array(6).fill(step / 3) },
    },
    files: {
      'adapter_config.json': JSON.stringify({ r: 4, step }),
      'adapter_model.safetensors': new Uint8Array([step, 1, 2]),
    },
  };
}

const crash = () => {
  throw new Error('simulated crash');
};

describe('float safetensors', () => {
  it('round-trips and is a valid safetensors layout', () => {
    const arrays = {
      b: { shape: [3], data: Float32Array.from([1.5, -2, 3]) },
      a: { shape: [1, 2], data: Float32Array.from([7, 8]) },
    };
    const bytes = encodeFloatSafetensors(arrays);
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLen % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
    expect(header.a).toEqual({ dtype: 'F32', shape: [1, 2], data_offsets: [0, 8] });
    expect(header.b).toEqual({ dtype: 'F32', shape: [3], data_offsets: [8, 20] });
    expect(header.__metadata__.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(bytes.length).toBe(8 + headerLen + 20);
    expect(decodeFloatSafetensors(bytes, 'x')).toEqual(arrays);
  });

  it('detects corruption and truncation', () => {
    const bytes = encodeFloatSafetensors({ a: { shape: [4], data: Float32Array.from([1, 2, 3, 4]) } });
    const flipped = bytes.slice();
    flipped[flipped.length - 1] ^= 1;
    expect(() => decodeFloatSafetensors(flipped, 'opt.safetensors')).toThrow(
      'opt.safetensors is corrupt: its data does not match its checksum.',
    );
    expect(() => decodeFloatSafetensors(bytes.subarray(0, bytes.length - 4), 'opt.safetensors')).toThrow(
      /truncated/,
    );
    expect(() => decodeFloatSafetensors(bytes.subarray(0, 5), 'opt.safetensors')).toThrow(/truncated/);
  });
});

describe('atomic checkpoints', () => {
  it('writes and reads back state, optimizer arrays and files', async () => {
    const dir = join(out, checkpointDirName(10));
    await writeCheckpoint(dir, content(10));
    const c = await readCheckpoint(dir);
    expect(c.dir).toBe(dir);
    expect(c.state).toEqual(content(10).state);
    expect(c.optimizer).toEqual(content(10).optimizer);
    expect(c.files).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'))).toEqual({ r: 4, step: 10 });
    expect(await readdir(out)).toEqual(['checkpoint-10']);
  });

  it('a crash between file writes leaves the previous checkpoint intact', async () => {
    const dir = join(out, 'last');
    await writeCheckpoint(dir, content(1));
    for (const at of ['adapter_config.json', OPTIMIZER_FILE, 'trainer_state.json']) {
      await expect(
        writeCheckpoint(dir, content(2), { afterFile: (name) => (name === at ? crash() : undefined) }),
      ).rejects.toThrow('simulated crash');
      const c = await readCheckpoint(dir);
      expect(c.state.step).toBe(1);
      expect(c.optimizer).toEqual(content(1).optimizer);
      expect([...(await readFile(join(dir, 'adapter_model.safetensors')))]).toEqual([1, 1, 2]);
    }
    // The next write cleans the temp directory up and lands.
    await writeCheckpoint(dir, content(3));
    expect((await readCheckpoint(dir)).state.step).toBe(3);
    expect(await readdir(out)).toEqual(['last']);
  });

  it('a crash between the two renames keeps the old checkpoint readable and recoverable', async () => {
    const dir = join(out, checkpointDirName(5));
    await writeCheckpoint(dir, content(5));
    await expect(writeCheckpoint(dir, content(6), { afterMoveAside: crash })).rejects.toThrow(
      'simulated crash',
    );
    const c = await readCheckpoint(dir);
    expect(c.state.step).toBe(5);
    expect(c.dir).not.toBe(dir);
    expect(await latestCheckpoint(out)).toBe(c.dir);
    await writeCheckpoint(dir, content(6));
    expect((await readCheckpoint(dir)).state.step).toBe(6);
    expect(await readdir(out)).toEqual(['checkpoint-5']);
  });

  it('finds the latest complete checkpoint and prunes older ones', async () => {
    expect(await latestCheckpoint(join(out, 'missing'))).toBeNull();
    for (const step of [2, 10, 9]) await writeCheckpoint(join(out, checkpointDirName(step)), content(step));
    // An unfinished write of step 11 must not count.
    await expect(
      writeCheckpoint(join(out, checkpointDirName(11)), content(11), { afterFile: crash }),
    ).rejects.toThrow('simulated crash');
    expect(await latestCheckpoint(out)).toBe(join(out, 'checkpoint-10'));
    expect(await pruneCheckpoints(out, 2)).toEqual([join(out, 'checkpoint-2')]);
    expect((await readdir(out)).filter((n) => !n.includes('.tmp-')).sort()).toEqual([
      'checkpoint-10',
      'checkpoint-9',
    ]);
  });

  it('explains unreadable checkpoints in one sentence', async () => {
    await expect(readCheckpoint(join(out, 'nope'))).rejects.toThrow(
      `Checkpoint directory ${join(out, 'nope')} does not exist.`,
    );
    const dir = join(out, 'bad');
    await writeCheckpoint(dir, content(1));
    await writeFile(join(dir, 'trainer_state.json'), '{"step": 1');
    await expect(readCheckpoint(dir)).rejects.toThrow(
      `${join(dir, 'trainer_state.json')} is not valid JSON.`,
    );
    await expect(
      writeCheckpoint(dir, { ...content(2), files: { 'trainer_state.json': 'x' } }),
    ).rejects.toThrow('Checkpoint file name trainer_state.json is reserved for the trainer.');
    await expect(writeCheckpoint(dir, { ...content(2), files: { '../x': 'x' } })).rejects.toThrow(
      /plain file name/,
    );
  });
});
