/**
 * The hand-encoded ONNX graphs are valid models that compute what our kernels compute: each tiny case
 * runs through ONNX Runtime's WebAssembly CPU backend in Node (the browser page runs the same bytes on
 * its WebGPU EP) and is checked against our kernel on this machine's adapter.
 */
import type { Gpu } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import * as ort from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOurs, peerCases, peerInputs } from './cases.ts';
import { fromHeadMajor } from './layout.ts';
import { onnxCase } from './onnx-graphs.ts';
import { maxAbsDiff, peerTolerance } from './peer.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await requestNodeGpu();
  ort.env.wasm.numThreads = 1;
});
afterAll(() => gpu?.destroy());

describe('ONNX graphs of the peer cases', () => {
  for (const c of peerCases('tiny'))
    it(`${c.key} matches our kernel`, async () => {
      const inputs = peerInputs(c, 7);
      const m = onnxCase(c, inputs);
      const session = await ort.InferenceSession.create(m.bytes, { executionProviders: ['wasm'] });
      const feeds: Record<string, ort.Tensor> = {};
      for (const f of m.feeds) feeds[f.name] = new ort.Tensor('float32', f.values, f.dims);
      let theirs: Float32Array = Float32Array.from((await session.run(feeds))[m.output].data as Float32Array);
      await session.release();
      const s = c.spec;
      if (s.op === 'attention') theirs = fromHeadMajor(theirs, s.B, s.T, s.H, s.D);
      const ours = buildOurs(gpu, c, inputs);
      try {
        await ours.run();
        const { err, scale } = maxAbsDiff(await ours.result(), theirs);
        expect(scale).toBeGreaterThan(0);
        expect(err).toBeLessThanOrEqual(peerTolerance(scale));
      } finally {
        ours.dispose();
      }
    });
});
