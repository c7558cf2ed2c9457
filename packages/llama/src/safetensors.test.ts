import { toBf16Array, toF16Array } from '@llara/gpu';
import { describe, expect, it } from 'vitest';
import { parseLlamaConfig } from './config.ts';
import { type ModelFiles, memoryFiles } from './files.ts';
import { folderFiles } from './node.ts';
import {
  checkTensorsAgainstConfig,
  expectedTensors,
  parseSafetensorsHeader,
  type RawTensor,
  readSafetensorsHeader,
  readTensor,
  readTensorRows,
  tensorToFloat32,
  tensorToHost,
} from './safetensors.ts';
import { serializeSafetensors } from './safetensors-writer.ts';

/** A safetensors file with a hand-written header (for corrupt files the writer refuses to make). */
function rawFile(
  header: Record<string, unknown>,
  dataBytes: number,
  headerLengthOverride?: bigint,
): Uint8Array {
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, headerLengthOverride ?? BigInt(text.byteLength), true);
  out.set(text, 8);
  return out;
}

function errorOf(bytes: Uint8Array, file = 'model.safetensors'): string {
  try {
    parseSafetensorsHeader(bytes, bytes.byteLength, file);
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
}

const UP = 'model.layers.0.mlp.up_proj.weight';

describe('parseSafetensorsHeader', () => {
  const valid = () =>
    serializeSafetensors(
      [
        { name: 'a', dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
        { name: UP, dtype: 'F16', shape: [4], data: toF16Array([1, -2, 0.5, 65504]) },
      ],
      { format: 'pt', note: 'x' },
    );

  it('parses tensors and __metadata__', () => {
    const bytes = valid();
    const h = parseSafetensorsHeader(bytes, bytes.byteLength, 'f.safetensors');
    expect([...h.tensors.keys()].sort()).toEqual(['a', UP].sort());
    expect(h.metadata).toEqual({ format: 'pt', note: 'x' });
    expect(h.dataStart % 8).toBe(0);
    const a = h.tensors.get('a')!;
    expect(a.shape).toEqual([2, 3]);
    expect(a.end - a.begin).toBe(24);
  });

  it('refuses a truncated file, naming the tensor, its end and the file size', () => {
    const bytes = valid();
    const h = parseSafetensorsHeader(bytes, bytes.byteLength, 'x');
    const last = [...h.tensors.values()].sort((p, q) => q.end - p.end)[0];
    const cut = bytes.slice(0, bytes.byteLength - 3);
    expect(errorOf(cut)).toBe(
      `model.safetensors is truncated: tensor ${last.name} ends at byte ${last.end} but the file has ${cut.byteLength} bytes.`,
    );
  });

  it('refuses a header length past the end of the file', () => {
    const f = rawFile({}, 0, 5000n);
    expect(errorOf(f)).toMatch(
      /^model\.safetensors is truncated or not a safetensors file: its header needs 5008 bytes but the file has \d+ bytes\.$/,
    );
  });

  it('refuses a header length over 100 MB and files shorter than 8 bytes', () => {
    expect(errorOf(rawFile({}, 0, 2n ** 40n))).toMatch(
      /header length 1099511627776 is over the 100 MB limit/,
    );
    expect(errorOf(new Uint8Array(5))).toMatch(/has 5 bytes, fewer than the 8-byte header length/);
  });

  it('refuses data_offsets outside the file', () => {
    const f = rawFile({ [UP]: { dtype: 'F32', shape: [4], data_offsets: [16, 32] } }, 20);
    expect(errorOf(f)).toMatch(
      new RegExp(`is truncated: tensor ${UP} ends at byte \\d+ but the file has ${f.byteLength} bytes`),
    );
  });

  it('refuses overlapping tensors', () => {
    const f = rawFile(
      {
        a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
        b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
      },
      16,
    );
    expect(errorOf(f)).toBe('model.safetensors: tensors a and b overlap in the file.');
  });

  it('refuses an unknown dtype string', () => {
    const f = rawFile({ w: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, 4);
    expect(errorOf(rawFile({ w: { dtype: 'toString', shape: [1], data_offsets: [0, 4] } }, 4))).toMatch(
      /unknown dtype "toString"/,
    );
    expect(errorOf(f)).toBe('model.safetensors: tensor w has an unknown dtype "F33".');
  });

  it('refuses a shape whose size does not match the byte span', () => {
    const f = rawFile({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, 20);
    expect(errorOf(f)).toBe(
      'model.safetensors: tensor w has shape [2, 3] of F32 (24 bytes) but its data_offsets span 20 bytes.',
    );
  });

  it('refuses malformed headers: bad JSON, bad shapes, bad offsets', () => {
    const text = new TextEncoder().encode('{"w": ');
    const f = new Uint8Array(8 + text.byteLength);
    new DataView(f.buffer).setBigUint64(0, BigInt(text.byteLength), true);
    f.set(text, 8);
    expect(errorOf(f)).toMatch(/^model\.safetensors has a header that is not valid JSON/);
    expect(errorOf(rawFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }, 0))).toMatch(
      /shape that is not a list/,
    );
    expect(errorOf(rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, 4))).toMatch(
      /invalid data_offsets \[4,0\]/,
    );
    expect(errorOf(rawFile({ w: [1, 2] }, 0))).toMatch(/header entry that is not an object/);
  });

  it('parses I32/I64/U8 tensors but refuses them as weights', async () => {
    const bytes = serializeSafetensors([
      { name: 'ids', dtype: 'I64', shape: [2], data: new BigInt64Array([1n, 2n]) },
    ]);
    const files = memoryFiles({ 'x.safetensors': bytes });
    const h = await readSafetensorsHeader(files, 'x.safetensors');
    const t = await readTensor(files, h, 'ids');
    expect(t.dtype).toBe('I64');
    expect(() => tensorToFloat32(t, 'tensor ids')).toThrow(
      'tensor ids has dtype I64, which is not a floating-point type.',
    );
    expect(() => tensorToHost(t, 'tensor ids')).toThrow('must be F32, F16 or BF16');
  });
});

describe('reading tensors lazily', () => {
  it('reads only the header and the requested byte ranges', async () => {
    const values = Float32Array.from({ length: 6 * 5 }, (_, i) => i * 0.5);
    const bytes = serializeSafetensors([
      { name: 'big', dtype: 'F32', shape: [6, 5], data: values },
      { name: 'h', dtype: 'BF16', shape: [3], data: toBf16Array([1.5, -2, 3.25]) },
    ]);
    const inner = memoryFiles({ 'm.safetensors': bytes });
    const reads: Array<[number, number]> = [];
    const files: ModelFiles = {
      ...inner,
      read: (name, start = 0, end) => {
        reads.push([start, end ?? -1]);
        return inner.read(name, start, end);
      },
    };
    const h = await readSafetensorsHeader(files, 'm.safetensors');
    expect(reads).toEqual([
      [0, 8],
      [0, h.dataStart],
    ]);
    reads.length = 0;
    const rows = await readTensorRows(files, h, 'big', 2, 4);
    expect(rows.shape).toEqual([2, 5]);
    expect(Array.from(tensorToFloat32(rows))).toEqual(Array.from(values.subarray(10, 20)));
    const big = h.tensors.get('big')!;
    expect(reads).toEqual([[big.begin + 40, big.begin + 80]]);
    expect(Array.from(tensorToFloat32(await readTensor(files, h, 'h')))).toEqual([1.5, -2, 3.25]);
    await expect(readTensorRows(files, h, 'big', 4, 7)).rejects.toThrow(
      'rows [4, 7) are outside tensor big with 6 rows',
    );
  });

  it('converts F16 and BF16 to f32 and keeps them as bits for the GPU', () => {
    const f16: RawTensor = {
      dtype: 'F16',
      shape: [3],
      data: new Uint8Array(toF16Array([0.1, -3, 1e-6]).buffer),
    };
    const bf16: RawTensor = {
      dtype: 'BF16',
      shape: [2],
      data: new Uint8Array(toBf16Array([1 / 3, 1e30]).buffer),
    };
    const a = tensorToFloat32(f16);
    expect(a[0]).toBeCloseTo(0.0999755859375, 12);
    expect(a[1]).toBe(-3);
    expect(Math.abs(a[2] - 1e-6)).toBeLessThan(3e-8);
    const b = tensorToFloat32(bf16);
    expect(b[0]).toBe(0.333984375);
    expect(Math.abs(b[1] / 1e30 - 1)).toBeLessThan(4e-3);
    expect(tensorToHost(bf16).dtype).toBe('bf16');
    expect(tensorToHost(bf16).data).toBeInstanceOf(Uint16Array);
  });

  it('copies a tensor whose bytes are not aligned to its element size', () => {
    const buf = new Uint8Array(9);
    new Float32Array(buf.buffer, 0, 2).set([1.25, -7]);
    const shifted = new Uint8Array(9);
    shifted.set(buf.subarray(0, 8), 1);
    const t: RawTensor = { dtype: 'F32', shape: [2], data: shifted.subarray(1) };
    expect(Array.from(tensorToFloat32(t))).toEqual([1.25, -7]);
  });
});

describe('checkTensorsAgainstConfig', () => {
  const dir = new URL('../../../data/models/stories260K/', import.meta.url).pathname;
  const load = async () => {
    const files = folderFiles(dir);
    const config = parseLlamaConfig(JSON.parse(new TextDecoder().decode(await files.read('config.json'))));
    const header = await readSafetensorsHeader(files, 'model.safetensors');
    return { config, header };
  };
  const where = () => 'model.safetensors';

  it('accepts stories260K and reads a real tensor', async () => {
    const { config, header } = await load();
    expect(header.tensors.size).toBe(expectedTensors(config).size);
    expect(header.metadata.format).toBe('pt');
    checkTensorsAgainstConfig(header.tensors, config, where);
    const norm = tensorToFloat32(await readTensor(folderFiles(dir), header, 'model.norm.weight'));
    expect(norm.length).toBe(64);
    expect(norm.every(Number.isFinite)).toBe(true);
  });

  it('refuses a missing tensor by name', async () => {
    const { config, header } = await load();
    const t = new Map(header.tensors);
    t.delete('model.layers.3.self_attn.v_proj.weight');
    expect(() => checkTensorsAgainstConfig(t, config, where)).toThrow(
      'The checkpoint has no tensor model.layers.3.self_attn.v_proj.weight, which config.json requires (shape [32, 64]).',
    );
  });

  it('refuses a mis-shaped tensor by name (shape vs config)', async () => {
    const { config, header } = await load();
    const wrong = { ...config, intermediateSize: 176 };
    expect(() => checkTensorsAgainstConfig(header.tensors, wrong, where)).toThrow(
      'model.safetensors: tensor model.layers.0.mlp.gate_proj.weight has shape [172, 64] but config.json implies [176, 64].',
    );
  });

  it('refuses an extra tensor, a missing lm_head when untied, and a non-float weight', async () => {
    const { config, header } = await load();
    const extra = new Map(header.tensors);
    extra.set('model.layers.5.mlp.up_proj.weight', { ...header.tensors.get(UP)!, name: 'x' });
    expect(() => checkTensorsAgainstConfig(extra, config, where)).toThrow(
      'tensor model.layers.5.mlp.up_proj.weight is not part of a LLaMA model as config.json describes it',
    );
    expect(() =>
      checkTensorsAgainstConfig(header.tensors, { ...config, tieWordEmbeddings: false }, where),
    ).toThrow('The checkpoint has no tensor lm_head.weight');
    const ints = new Map(header.tensors);
    ints.set('model.norm.weight', { ...header.tensors.get('model.norm.weight')!, dtype: 'I32' });
    expect(() => checkTensorsAgainstConfig(ints, config, where)).toThrow(
      'has dtype I32 but weights must be F32, F16 or BF16',
    );
  });

  it('tolerates an lm_head copy with tied embeddings and old rotary caches', async () => {
    const { config, header } = await load();
    const t = new Map(header.tensors);
    t.set('lm_head.weight', header.tensors.get('model.embed_tokens.weight')!);
    t.set('model.layers.0.self_attn.rotary_emb.inv_freq', {
      ...header.tensors.get('model.norm.weight')!,
      shape: [4],
    });
    expect(() => checkTensorsAgainstConfig(t, config, where)).not.toThrow();
  });
});
