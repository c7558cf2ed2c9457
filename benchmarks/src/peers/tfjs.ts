/**
 * TensorFlow.js's WebGPU backend as a peer, on our own GPUDevice: its `WebGPUBackend` is constructed
 * with the device and registered as the `webgpu` backend (the name its kernels are registered under),
 * replacing the factory that would request a second device.
 *
 * Each case is composed from TensorFlow.js ops: `matMul` (transposeB for 'nt'); attention as batched
 * `matMul(q, k^T) * scale + mask`, `softmax`, `matMul(p, v)` on head-major [B, H, T, D] inputs (the
 * layout that suits it; the transposes to and from ours are done on the host, outside the timing);
 * RMSNorm as `x * rsqrt(mean(x^2) + eps) * w`; `topk`. TensorFlow.js 4.22 has no float16 dtype, so
 * f16 rows have no TensorFlow.js twin.
 *
 * ```ts
 * const peer = await createTfjsPeer(gpu);
 * try { ... } finally { peer.dispose(); }
 * ```
 */
import type { Gpu } from '@llara/gpu';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import * as tf from '@tensorflow/tfjs-core';
import { causalMaskValues, fromHeadMajor, scoresTooLarge, toHeadMajor } from './layout.ts';
import type { Peer, PeerCase, PeerInputs, Runnable } from './peer.ts';

/** The parts of WebGPUBackend that flush its batched commands (public methods, untyped field). */
interface Flushable {
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/**
 * Runs `fn` with a `navigator.gpu` present: WebGPUBackend's constructor refuses to start without one,
 * and Node 20 has none. It only checks that it exists; what was there before is put back.
 */
function withNavigatorGpu<T>(fn: () => T): T {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu) return fn();
  const hadNavigator = 'navigator' in globalThis;
  if (!hadNavigator)
    Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  const nav = g.navigator as { gpu?: unknown };
  nav.gpu = {};
  try {
    return fn();
  } finally {
    delete nav.gpu;
    if (!hadNavigator) delete g.navigator;
  }
}

export async function createTfjsPeer(gpu: Gpu): Promise<Peer> {
  const backend = withNavigatorGpu(
    () => new WebGPUBackend(gpu.device, gpu.caps.adapter as unknown as GPUAdapterInfo),
  );
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => backend, 1);
  if (!(await tf.setBackend('webgpu'))) throw new Error('TensorFlow.js could not start its WebGPU backend.');
  // Small inputs would otherwise run on the CPU: every op here must run on the device.
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  const flush = () => {
    const b = backend as unknown as Flushable;
    if (b.commandEncoder) {
      b.endComputePassEncoder();
      b.submitQueue();
    }
  };

  function runnable(
    describe: string,
    compute: () => tf.Tensor,
    held: tf.Tensor[],
    post?: (x: Float32Array) => Float32Array,
  ): Runnable {
    let last: tf.Tensor | null = null;
    return {
      describe,
      async run() {
        last?.dispose();
        last = tf.tidy(compute);
        flush();
        await gpu.device.queue.onSubmittedWorkDone();
      },
      async result() {
        if (!last) throw new Error('no result yet');
        const x = Float32Array.from((await last.data()) as Float32Array);
        return post ? post(x) : x;
      },
      dispose() {
        last?.dispose();
        for (const t of held) t.dispose();
      },
    };
  }

  return {
    id: 'tfjs',
    name: `TensorFlow.js ${tf.version_core} (WebGPU backend)`,
    f16Matmul: () => 'skipped: TensorFlow.js 4.22 has no float16 dtype (its WebGPU backend computes in f32)',
    unsupported(c: PeerCase): string | null {
      if (c.spec.op === 'attention' && c.spec.KV !== c.spec.H)
        return 'skipped: grouped-query attention is not composed for TensorFlow.js';
      if (c.spec.op === 'attention') return scoresTooLarge(gpu.device.limits, c.spec);
      return null;
    },
    async build(c: PeerCase, inputs: PeerInputs): Promise<Runnable> {
      const s = c.spec;
      switch (s.op) {
        case 'matmul': {
          const a = tf.tensor2d(inputs.a, [s.M, s.K]);
          const b = tf.tensor2d(inputs.b, s.layout === 'nt' ? [s.N, s.K] : [s.K, s.N]);
          const transB = s.layout === 'nt';
          return runnable(
            `matMul(a, b${transB ? ', transposeB' : ''})`,
            () => tf.matMul(a, b, false, transB),
            [a, b],
          );
        }
        case 'attention': {
          const shape: [number, number, number, number] = [s.B, s.H, s.T, s.D];
          const q = tf.tensor4d(toHeadMajor(inputs.q, s.B, s.T, s.H, s.D), shape);
          const k = tf.tensor4d(toHeadMajor(inputs.k, s.B, s.T, s.KV, s.D), shape);
          const v = tf.tensor4d(toHeadMajor(inputs.v, s.B, s.T, s.KV, s.D), shape);
          const mask = tf.tensor2d(causalMaskValues(s.T), [s.T, s.T]);
          const scale = tf.scalar(1 / Math.sqrt(s.D));
          return runnable(
            'matMul(q, k, transposeB), mul(scale), add(causal mask), softmax, matMul(p, v)',
            () => tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(q, k, false, true), scale), mask)), v),
            [q, k, v, mask, scale],
            (x) => fromHeadMajor(x, s.B, s.T, s.H, s.D),
          );
        }
        case 'rmsnorm': {
          const x = tf.tensor2d(inputs.x, [s.T, s.D]);
          const w = tf.tensor1d(inputs.w);
          const eps = tf.scalar(s.eps);
          return runnable(
            'mul(x, rsqrt(add(mean(square(x), -1), eps)), w)',
            () => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w),
            [x, w, eps],
          );
        }
        case 'topk': {
          const scores = tf.tensor2d(inputs.scores, [s.rows, s.cols]);
          return runnable(`topk(k ${s.k}) values`, () => tf.topk(scores, s.k).values, [scores]);
        }
      }
    },
    dispose() {
      tf.removeBackend('webgpu');
    },
  };
}
