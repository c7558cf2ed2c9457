/**
 * Measures, on this device and model, whether a row's embedding keeps its exact bits when it shares a
 * forward pass: padded beside a longer row, or beside rows of its own length. The batcher batches only
 * as far as the answer allows, so a response never depends on its neighbours (see batcher.ts).
 */
import type { Embedder } from '@llara/trainer';
import type { BatchingMode } from './batcher.ts';

const SHORT = 'A wing.';
const LONG =
  'The boundary layer over a swept wing thickens toward the tip, and the flow separates there first at high angles of attack.';

const sameBits = (a: Float32Array, b: Float32Array): boolean =>
  a.length === b.length &&
  Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  ) === 0;

const STRICTNESS: BatchingMode[] = ['mixed', 'equal-length', 'single'];

/** 'mixed' when padding changes no bit, 'equal-length' when only batch size does not, else 'single'. */
export async function probeBatching(embedder: Embedder): Promise<BatchingMode> {
  let worst = 0;
  for (const role of ['query', 'passage'] as const) {
    const short = embedder.layout(SHORT, role);
    const long = embedder.layout(LONG, role);
    const H = embedder.dim;
    const a = await embedder.embedLayouts([short]);
    const b = await embedder.embedLayouts([long]);
    const mixed = await embedder.embedLayouts([long, short]);
    if (sameBits(mixed.subarray(0, H), b) && sameBits(mixed.subarray(H), a)) continue;
    const three = await embedder.embedLayouts([short, short, short]);
    const equal = [0, 1, 2].every((r) => sameBits(three.subarray(r * H, (r + 1) * H), a));
    worst = Math.max(worst, equal ? 1 : 2);
  }
  return STRICTNESS[worst];
}
