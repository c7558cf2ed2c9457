// Exit 0 when Dawn finds a WebGPU adapter, 1 otherwise (used by .ci/run to decide whether to install lavapipe).
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
let gpu = create([]);
const adapter = await gpu.requestAdapter();
gpu = null;
if (!adapter) {
  console.error('no WebGPU adapter');
  process.exit(1);
}
console.log(`WebGPU adapter: ${adapter.info.device || adapter.info.description || adapter.info.vendor}`);
process.exit(0);
