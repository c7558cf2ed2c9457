import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { toF16Array } from '@llara/gpu';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryFiles } from './files.ts';
import { folderFiles, writeFileAtomic, writeSafetensorsFile } from './node.ts';
import { parseSafetensorsHeader, readSafetensorsHeader, readTensor, tensorToFloat32 } from './safetensors.ts';
import { safetensorsLayout, serializeSafetensors } from './safetensors-writer.ts';

const tmp = await fs.mkdtemp(path.join(tmpdir(), 'llara-st-'));
afterAll(() => fs.rm(tmp, { recursive: true, force: true }));

describe('serializeSafetensors', () => {
  it('pads the header with spaces to 8 bytes and orders data by dtype size then name', () => {
    const bytes = serializeSafetensors([
      { name: 'b16', dtype: 'F16', shape: [3], data: toF16Array([1, 2, 3]) },
      { name: 'z', dtype: 'F32', shape: [1], data: new Float32Array([4]) },
      { name: 'a', dtype: 'F32', shape: [2], data: new Float32Array([5, 6]) },
    ]);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text.trimEnd().endsWith('}')).toBe(true);
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    expect(text.startsWith('{"__metadata__":{"format":"pt"},"a":')).toBe(true);
    const h = parseSafetensorsHeader(bytes, bytes.byteLength, 'x');
    const order = [...h.tensors.values()].sort((p, q) => p.begin - q.begin).map((t) => t.name);
    expect(order).toEqual(['a', 'z', 'b16']);
    expect(h.dataStart + 8 + 4 + 6).toBe(bytes.byteLength);
  });

  it('refuses data of the wrong length and duplicate names', () => {
    expect(() =>
      serializeSafetensors([{ name: 'w', dtype: 'F32', shape: [2, 2], data: new Float32Array(3) }]),
    ).toThrow('Tensor w has 12 bytes of data but shape [2, 2] of F32 needs 16.');
    const t = { name: 'w', dtype: 'F32' as const, shape: [1], data: new Float32Array(1) };
    expect(() => serializeSafetensors([t, t])).toThrow('two tensors named w');
  });

  it('round-trips through the reader', async () => {
    const values = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i));
    const bytes = serializeSafetensors([{ name: 'm', dtype: 'F32', shape: [3, 4], data: values }], {
      k: 'v',
    });
    const files = memoryFiles({ 'f.safetensors': bytes });
    const h = await readSafetensorsHeader(files, 'f.safetensors');
    expect(h.metadata).toEqual({ k: 'v' });
    expect(tensorToFloat32(await readTensor(files, h, 'm'))).toEqual(values);
  });
});

describe('Node atomic writers', () => {
  it('streams lazily produced tensors into the same bytes as the in-memory writer', async () => {
    const a = Float32Array.from({ length: 10 }, (_, i) => i);
    const b = toF16Array([0.5, 0.25]);
    const file = path.join(tmp, 'lazy.safetensors');
    let produced = 0;
    await writeSafetensorsFile(file, [
      {
        name: 'a',
        dtype: 'F32',
        shape: [10],
        data: async () => {
          produced++;
          return a;
        },
      },
      { name: 'b', dtype: 'F16', shape: [2], data: b },
    ]);
    expect(produced).toBe(1);
    const written = new Uint8Array(await fs.readFile(file));
    expect(written).toEqual(
      serializeSafetensors([
        { name: 'a', dtype: 'F32', shape: [10], data: a },
        { name: 'b', dtype: 'F16', shape: [2], data: b },
      ]),
    );
    const h = await readSafetensorsHeader(folderFiles(tmp), 'lazy.safetensors');
    expect(h.fileSize).toBe(safetensorsLayout([...h.tensors.values()], h.metadata).fileSize);
  });

  it('leaves the previous file intact and no temp file when writing fails', async () => {
    const file = path.join(tmp, 'keep.safetensors');
    await writeFileAtomic(file, 'old contents');
    await expect(
      writeSafetensorsFile(file, [
        {
          name: 'a',
          dtype: 'F32',
          shape: [4],
          data: async () => {
            throw new Error('disk full');
          },
        },
      ]),
    ).rejects.toThrow('disk full');
    expect(await fs.readFile(file, 'utf8')).toBe('old contents');
    expect((await fs.readdir(tmp)).filter((f) => f.includes('.tmp'))).toEqual([]);
  });
});
