/**
 * ONNX Runtime Web's WebGPU execution provider as a peer, on our own GPUDevice (the EP's `device`
 * option), for the browser bench page. Each case is a minimal ONNX graph made here (onnx-graphs.ts);
 * its inputs live in GPU buffers and its output stays on the GPU (`preferredOutputLocation:
 * 'gpu-buffer'`), so a timed call is the graph's work on the device, like ours, without uploads or
 * readback. ONNX Runtime's WebAssembly files must be reachable: the page sets `ort.env.wasm.wasmPaths`
 * (or lets its bundler emit them beside the bundle). f16 twins are not built: our f16 rows keep f32
 * activations with f16 weights, which an all-f16 ONNX MatMul would not match.
 *
 * ```ts
 * import * as ort from 'onnxruntime-web/webgpu';
 * const peer = await createOrtPeer(gpu, ort);
 * ```
 */
import type { Gpu } from '@llara/gpu';
import type * as Ort from 'onnxruntime-web/webgpu';
import { scoresTooLarge } from './layout.ts';
import { onnxCase } from './onnx-graphs.ts';
import type { Peer, PeerCase, PeerInputs, Runnable } from './peer.ts';

type OrtModule = typeof Ort;

export async function createOrtPeer(gpu: Gpu, ort: OrtModule): Promise<Peer> {
  // No worker threads: a page without cross-origin isolation has no SharedArrayBuffer.
  ort.env.wasm.numThreads = 1;
  const device = gpu.device;
  const version = ort.env.versions?.web ?? ort.env.versions?.common ?? '?';
  return {
    id: 'ort',
    name: `ONNX Runtime Web ${version} (WebGPU EP)`,
    f16Matmul: () =>
      gpu.has('shader-f16')
        ? 'skipped: no ONNX twin of f32 activations x f16 weights (an f16 MatMul rounds the activations too)'
        : 'skipped: the adapter has no shader-f16, so ONNX Runtime has no f16 kernels here',
    unsupported(c: PeerCase): string | null {
      if (c.spec.op === 'attention' && c.spec.KV !== c.spec.H)
        return 'skipped: grouped-query attention is not composed for ONNX Runtime';
      if (c.spec.op === 'attention') return scoresTooLarge(gpu.device.limits, c.spec);
      return null;
    },
    async build(c: PeerCase, inputs: PeerInputs): Promise<Runnable> {
      const model = onnxCase(c, inputs);
      const session = await ort.InferenceSession.create(model.bytes, {
        executionProviders: [
          { name: 'webgpu', device } as Ort.InferenceSession.WebGpuExecutionProviderOption,
        ],
        preferredOutputLocation: 'gpu-buffer',
        graphOptimizationLevel: 'all',
      });
      const buffers: GPUBuffer[] = [];
      const feeds: Record<string, Ort.Tensor> = {};
      for (const f of model.feeds) {
        const size = Math.ceil(f.values.byteLength / 16) * 16;
        const buffer = device.createBuffer({
          size,
          usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        });
        device.queue.writeBuffer(buffer, 0, f.values as Float32Array<ArrayBuffer>);
        buffers.push(buffer);
        feeds[f.name] = ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims: f.dims });
      }
      let last: Ort.InferenceSession.OnnxValueMapType | null = null;
      const release = () => {
        if (last) for (const t of Object.values(last)) t.dispose();
        last = null;
      };
      return {
        describe: model.describe,
        async run() {
          release();
          last = await session.run(feeds);
          await device.queue.onSubmittedWorkDone();
        },
        async result() {
          const out = last?.[model.output];
          if (!out) throw new Error('no result yet');
          return Float32Array.from((await out.getData()) as Float32Array);
        },
        dispose() {
          release();
          void session.release();
          for (const b of buffers) b.destroy();
        },
      };
    },
    dispose() {},
  };
}
