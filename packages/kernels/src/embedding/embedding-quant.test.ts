/**
 * The embedding gather on block-quantized tables (q8, q4, nf4): exactly the CPU-dequantized rows, on
 * odd widths, on every test device; and a table split by rows into a quantized part and an f32 part
 * (how the loader keeps the added special-token rows in f32 beside a quantized vocabulary).
 */
import { assertClose, QUANT_FORMATS, randomArray, seededRandom } from '@llara/gpu';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { dequantizeMatrix, quantizeMatrix } from '../quant/quantize.ts';
import { closeTestGpus, openTestGpus, type TestGpu } from '../test-gpus.ts';
import { embeddingRef } from './embedding.ref.ts';
import { embedding } from './embedding.ts';

const EXACT = { atol: 0, rtol: 0 };

let gpus: TestGpu[];
beforeAll(async () => {
  gpus = await openTestGpus();
});
afterAll(() => closeTestGpus(gpus));

function ids(T: number, V: number, seed: number): Int32Array {
  const r = seededRandom(seed);
  const out = Int32Array.from({ length: T }, () => Math.floor(r() * V));
  if (T > 2) out[1] = -1; // outside the table: a zero row
  return out;
}

describe('embedding on quantized tables', () => {
  it('gathers exactly the dequantized rows (D = 1, 7, 65, 129)', async () => {
    for (const { name, gpu } of gpus) {
      for (const format of QUANT_FORMATS) {
        for (const [T, V, D] of [
          [3, 5, 1],
          [5, 11, 7],
          [9, 3, 65],
          [4, 6, 129],
        ] as const) {
          const words = quantizeMatrix(format, randomArray(V * D, V * D), V, D);
          const table = gpu.tensor(format, [V, D], words);
          const id = ids(T, V, T + D);
          const idt = gpu.tensor('i32', [T], id);
          const out = gpu.tensor('f32', [T, D]);
          const rec = gpu.recorder();
          embedding(rec, idt, table, out);
          rec.submit();
          const want = embeddingRef(id, dequantizeMatrix(format, words, V, D), V, D);
          assertClose(await gpu.read(out), want, EXACT, `${name} ${format} ${T}x${V}x${D}`);
          for (const t of [table, idt, out]) t.release();
        }
      }
    }
  });

  it('gathers a table split into a quantized part and an f32 part of added rows', async () => {
    const V = 9;
    const added = 3;
    const D = 65;
    for (const { name, gpu } of gpus) {
      const base = randomArray(V * D, 3);
      const extra = randomArray(added * D, 4);
      const words = quantizeMatrix('nf4', base, V, D);
      const q = gpu.tensor('nf4', [V, D], words);
      const f = gpu.tensor('f32', [added, D], extra);
      const all = new Float32Array((V + added) * D);
      all.set(dequantizeMatrix('nf4', words, V, D));
      all.set(extra, V * D);
      const id = ids(17, V + added, 5);
      const idt = gpu.tensor('i32', [id.length], id);
      const out = gpu.tensor('f32', [id.length, D]);
      const rec = gpu.recorder();
      embedding(rec, idt, q, out, { row0: 0 });
      embedding(rec, idt, f, out, { row0: V, keep: true });
      rec.submit();
      assertClose(await gpu.read(out), embeddingRef(id, all, V + added, D), EXACT, `${name} split`);
      for (const t of [q, f, idt, out]) t.release();
    }
  });
});
