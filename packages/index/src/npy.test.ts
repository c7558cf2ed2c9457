import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromF16Array } from '@llara/gpu';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy, type NpyArray } from './npy.ts';
import { readNpy, writeNpy } from './npy-node.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/npy/', import.meta.url));
const fixture = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, name)));
const hasNumpy = spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

describe('decodeNpy on files NumPy wrote (fixtures/npy/make_npy_fixtures.py)', () => {
  it('reads every supported dtype and shape', () => {
    const f4 = decodeNpy(fixture('f4-2x3.npy'));
    expect(f4.dtype).toBe('f4');
    expect(f4.shape).toEqual([2, 3]);
    expect([...f4.data]).toEqual([0, 1, 2, 3, 4, 5].map((i) => i * 0.5 - 1));
    const f2 = decodeNpy(fixture('f2-5.npy'));
    expect(f2.dtype).toBe('f2');
    const halves = fromF16Array(f2.data as Uint16Array);
    expect([...halves.slice(0, 3)]).toEqual([0, -2.5, 65504]);
    expect(halves[3]).toBeCloseTo(0.0001, 6); // nearest float16 is 1.0001659e-4
    expect(halves[4]).toBe(Number.POSITIVE_INFINITY);
    expect([...decodeNpy(fixture('i4-2x2.npy')).data]).toEqual([-1, 2, 2 ** 31 - 1, -(2 ** 31)]);
    expect([...decodeNpy(fixture('i8-3.npy')).data]).toEqual([2n ** 40n, -7n, 0n]);
    const u1 = decodeNpy(fixture('u1-2x2x2.npy'));
    expect(u1.shape).toEqual([2, 2, 2]);
    expect([...u1.data]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const scalar = decodeNpy(fixture('f8-scalar.npy'));
    expect(scalar.shape).toEqual([]);
    expect([...scalar.data]).toEqual([Math.PI]);
    const empty = decodeNpy(fixture('f4-0x4.npy'));
    expect(empty.shape).toEqual([0, 4]);
    expect(empty.data.length).toBe(0);
    const v2 = decodeNpy(fixture('f4-v2-3x1.npy'));
    expect(v2.shape).toEqual([3, 1]);
    expect([...v2.data]).toEqual([1.5, -2, 3.25]);
  });

  it('writes the same bytes NumPy writes', () => {
    for (const name of [
      'f4-2x3.npy',
      'f2-5.npy',
      'i4-2x2.npy',
      'i8-3.npy',
      'u1-2x2x2.npy',
      'f8-scalar.npy',
      'f4-0x4.npy',
    ]) {
      const bytes = fixture(name);
      expect(encodeNpy(decodeNpy(bytes)), name).toEqual(bytes);
    }
  });

  it('rejects unsupported layouts and damaged files in one sentence naming the file', () => {
    expect(() => decodeNpy(fixture('f4-fortran.npy'), 'f.npy')).toThrow(
      'f.npy is in Fortran order; only C order is supported.',
    );
    expect(() => decodeNpy(fixture('f4-big-endian.npy'), 'b.npy')).toThrow(
      "b.npy is big-endian ('>f4'); only little-endian is supported.",
    );
    const good = fixture('f4-2x3.npy');
    expect(() => decodeNpy(good.slice(0, good.length - 1), 't.npy')).toThrow(
      't.npy is truncated: shape (2, 3) needs 24 data bytes but it has 23.',
    );
    expect(() => decodeNpy(good.slice(0, 50), 't.npy')).toThrow(
      't.npy is truncated: its header should be 118 bytes but the file ends before that.',
    );
    expect(() => decodeNpy(good.slice(0, 9), 't.npy')).toThrow(/^t\.npy is not a NumPy \.npy file/);
    expect(() => decodeNpy(new Uint8Array([...good, 0]), 'x.npy')).toThrow(
      'x.npy has 1 unexpected bytes after its data.',
    );
    const badHeader = good.slice();
    badHeader.set(new TextEncoder().encode("{'descx'"), 10);
    expect(() => decodeNpy(badHeader, 'h.npy')).toThrow(/^h\.npy has a malformed \.npy header/);
    const badVersion = good.slice();
    badVersion[6] = 4;
    expect(() => decodeNpy(badVersion, 'v.npy')).toThrow(
      'v.npy has .npy format version 4.0; versions 1.0, 2.0 and 3.0 are supported.',
    );
    expect(() => encodeNpy({ dtype: 'f4', shape: [2, 2], data: new Float32Array(3) })).toThrow(
      'Cannot write .npy: shape (2, 2) does not match 3 elements.',
    );
    expect(() => encodeNpy({ dtype: 'f4', shape: [2], data: new Int32Array(2) })).toThrow(
      'Cannot write .npy: dtype f4 needs a Float32Array, got a Int32Array.',
    );
  });

  it('round-trips every dtype, including a header long enough to need format 2.0', () => {
    const arrays: NpyArray[] = [
      { dtype: 'f4', shape: [2, 2], data: new Float32Array([1, -2, 3.5, 1e-30]) },
      { dtype: 'f2', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) },
      { dtype: 'u8', shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) },
      { dtype: 'i2', shape: [3], data: new Int16Array([-1, 0, 1]) },
      { dtype: 'b1', shape: [2], data: new Uint8Array([0, 1]) },
      // 30,000 dimensions of size 1 make a header longer than 65,535 bytes.
      { dtype: 'f4', shape: [...Array(30000).fill(1), 2], data: new Float32Array([7, 8]) },
    ];
    for (const a of arrays) {
      const bytes = encodeNpy(a);
      expect(bytes[6]).toBe(a.shape.length > 100 ? 2 : 1);
      const headerEnd = bytes.length - a.data.byteLength;
      expect(headerEnd % 64).toBe(0);
      expect(decodeNpy(bytes)).toEqual(a);
    }
  });
});

describe('readNpy / writeNpy (Node)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'npy-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('writes atomically, reads back, and names a missing file', async () => {
    const path = join(tmp, 'x.npy');
    const a: NpyArray = { dtype: 'f4', shape: [3, 2], data: new Float32Array([1, 2, 3, 4, 5, 6]) };
    await writeNpy(path, a);
    await writeNpy(path, a); // replacing an existing file
    expect(await readNpy(path)).toEqual(a);
    await expect(readNpy(join(tmp, 'none.npy'))).rejects.toThrow(
      `NumPy file ${join(tmp, 'none.npy')} cannot be read (it does not exist).`,
    );
  });

  it.skipIf(!hasNumpy)('writes files NumPy reads', async () => {
    const path = join(tmp, 'for-numpy.npy');
    await writeNpy(path, { dtype: 'f2', shape: [2, 2], data: new Uint16Array([0x3c00, 0xc000, 0x7bff, 0]) });
    const out = execFileSync('/usr/bin/python3', [
      '-c',
      'import sys, numpy as np; a = np.load(sys.argv[1]); print(a.dtype, a.shape, a.ravel().tolist())',
      path,
    ]).toString();
    expect(out.trim()).toBe('float16 (2, 2) [1.0, -2.0, 65504.0, 0.0]');
  });
});
