/**
 * Test-only: a dedicated worker (as the demo's model worker is) that quantizes the matrices it is sent
 * with `createWebQuantizePool`, so the pool's own workers are nested ones. quantize-web-pool.test.ts
 * bundles it and compares the words with `quantizeRawTensor`'s.
 */
import type { QuantFormat } from '@llara/gpu';
import { createWebQuantizePool, type RawTensor } from '@llara/llama';

export interface QuantizeCase {
  format: QuantFormat;
  dtype: 'F32' | 'F16' | 'BF16';
  shape: [number, number];
  /** The matrix's bytes, base64 (quicker through the test driver than a number array). */
  bytes: string;
}

export interface QuantizeRun {
  workers: number;
  small: number;
  cases: QuantizeCase[];
}

export interface QuantizeAnswer {
  threads: number;
  isolated: boolean;
  /** Per case: the words' bytes in base64, or the error message. */
  results: ({ words: string } | { error: string })[];
}

self.onmessage = async (e: MessageEvent<QuantizeRun>) => {
  const { workers, small, cases } = e.data;
  const pool = createWebQuantizePool({ workers, small });
  const results: QuantizeAnswer['results'] = [];
  for (const c of cases) {
    const raw: RawTensor = {
      dtype: c.dtype,
      shape: c.shape,
      data: Uint8Array.from(atob(c.bytes), (ch) => ch.charCodeAt(0)),
    };
    try {
      const words = await pool.quantize(raw, c.format, 'tensor w');
      results.push({ words: btoa(String.fromCharCode(...new Uint8Array(words.buffer))) });
    } catch (err) {
      results.push({ error: (err as Error).message });
    }
  }
  await pool.close();
  const answer: QuantizeAnswer = { threads: pool.threads, isolated: self.crossOriginIsolated, results };
  self.postMessage(answer);
};
