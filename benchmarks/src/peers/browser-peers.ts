/**
 * The peers a web page can run, loaded on demand (TensorFlow.js and ONNX Runtime Web are megabytes of
 * script and WebAssembly that a page without peer comparisons never fetches). A peer that cannot start
 * on this device becomes a failure row naming why, so the kernel rows still come.
 *
 * ```ts
 * const { peers, failures } = await loadBrowserPeers(gpu);
 * const out = await benchPeers(gpu, peers, { size: 'tiny' });
 * for (const p of peers) p.dispose();
 * ```
 */
import type { Gpu } from '@llara/gpu';
import { errorMessage, type Failure } from '../rows.ts';
import type { Peer } from './peer.ts';

export async function loadBrowserPeers(gpu: Gpu): Promise<{ peers: Peer[]; failures: Failure[] }> {
  const peers: Peer[] = [];
  const failures: Failure[] = [];
  try {
    const { createTfjsPeer } = await import('./tfjs.ts');
    peers.push(await createTfjsPeer(gpu));
  } catch (e) {
    failures.push({
      suite: 'kernels',
      key: 'peer|*|tfjs',
      error: `TensorFlow.js did not start: ${errorMessage(e)}`,
    });
  }
  try {
    const [ort, { createOrtPeer }] = await Promise.all([
      import('onnxruntime-web/webgpu'),
      import('./ort.ts'),
    ]);
    peers.push(await createOrtPeer(gpu, ort));
  } catch (e) {
    failures.push({
      suite: 'kernels',
      key: 'peer|*|ort',
      error: `ONNX Runtime Web did not start: ${errorMessage(e)}`,
    });
  }
  return { peers, failures };
}
