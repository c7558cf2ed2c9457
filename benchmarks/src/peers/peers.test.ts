/**
 * The peer-twin plumbing on this machine's adapter at tiny shapes: TensorFlow.js's WebGPU backend runs
 * on our device and agrees with our kernels (so its rows carry a ratio), a peer whose result differs is
 * a failed row without a ratio, and the report shows both. The timed runs are `pnpm bench`'s job.
 */
import type { Gpu } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReport } from '../report.ts';
import { fromHeadMajor, scoresTooLarge, toHeadMajor } from './layout.ts';
import type { Peer, Runnable } from './peer.ts';
import { benchPeers } from './peers.bench.ts';
import { createTfjsPeer } from './tfjs.ts';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await requestNodeGpu();
});
afterAll(() => gpu?.destroy());

/** A peer that computes nothing: its "result" is all ones, which no case's true result is. */
const wrongPeer: Peer = {
  id: 'wrong',
  name: 'a wrong peer',
  f16Matmul: () => 'skipped: test peer',
  unsupported: () => null,
  async build(): Promise<Runnable> {
    return {
      describe: 'ones',
      run: async () => {},
      result: async () => new Float32Array(64 * 64).fill(1),
      dispose: () => {},
    };
  },
  dispose: () => {},
};

describe('peer twins', () => {
  it('head-major transposes invert each other', () => {
    const x = Float32Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => i);
    const h = toHeadMajor(x, 2, 3, 4, 5);
    expect(h[5]).toBe(x[4 * 5]); // [b0, h0, t1, d0] is token 1's head 0
    expect(fromHeadMajor(h, 2, 3, 4, 5)).toEqual(x);
  });

  it('refuses composed attention whose scores exceed one storage binding, naming both sizes', () => {
    const browser = { maxStorageBufferBindingSize: 128 * 2 ** 20 };
    expect(scoresTooLarge(browser, { B: 1, H: 32, T: 512 })).toBeNull(); // 32 MiB
    expect(scoresTooLarge(browser, { B: 1, H: 32, T: 2048 })).toMatch(
      /^skipped: .*\(512 MiB\).*\(128 MiB\)$/,
    );
  });

  it('TensorFlow.js on our device agrees with ours; a differing peer gets no ratio', async () => {
    const tfjs = await createTfjsPeer(gpu);
    try {
      const { rows, failures } = await benchPeers(gpu, [tfjs, wrongPeer], {
        size: 'tiny',
        only: ['matmul', 'attention'],
        warmup: 0,
        iterations: 1,
      });
      const ok = rows.filter((r) => r.peer === 'tfjs');
      expect(ok.map((r) => r.op).sort()).toEqual(['attention', 'matmul', 'matmul']);
      for (const r of ok) {
        expect(r.status, `${r.key}: ${r.error}`).toBe('ok');
        expect(r.check.pass).toBe(true);
        expect(r.ratio).toBeGreaterThan(0);
        expect(r.ratio).toBeCloseTo(r.peerMs! / r.oursMs!, 9);
      }
      const wrong = rows.filter((r) => r.peer === 'wrong');
      expect(wrong).toHaveLength(3);
      for (const r of wrong) {
        expect(r.status).not.toBe('ok');
        expect(r.ratio).toBeNull();
        expect(r.peerMs).toBeNull();
      }
      expect(failures.map((f) => f.key)).toContain('peer|matmul|M64xN64xK64|nn|f16|tfjs');
      const md = renderReport({
        webgpu: [
          {
            meta: {
              date: 'd',
              device: 'lavapipe',
              backend: 'vulkan',
              isFallbackAdapter: false,
              smoke: true,
              command: 'test',
              node: 'v20',
              peaks: null,
            },
            rows: [],
            failures,
            peers: rows,
          },
        ],
        torch: [],
      });
      expect(md).toContain('## Beside the WebGPU peers');
      expect(md).toMatch(
        /\| matmul +\| M64xN64xK64 nn \(square\) f32 +\| tfjs +\|.*\| pass \(.*\| [\d.]+x +\|/,
      );
      expect(md).toContain('**mismatch: no ratio**');
    } finally {
      tfjs.dispose();
    }
  });
});
