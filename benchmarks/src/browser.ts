/**
 * The part of the benchmarks that runs in a web page (no Node APIs): the WGSL kernel suite, the peer
 * twins (TensorFlow.js's WebGPU backend and ONNX Runtime Web's WebGPU EP on the page's device) and the
 * report they render, as `apps/web`'s bench.html uses them.
 *
 * ```ts
 * const gpu = await requestBrowserGpu();
 * const { rows, failures } = await benchKernels(gpu, { smoke: true });
 * const md = renderReport({ webgpu: [{ meta: benchMeta(gpu, true, 'bench.html'), rows, failures }], torch: [] });
 * ```
 */
export { benchMeta } from './bench-meta.ts';
export { benchKernels, KERNEL_NAMES, type KernelBenchOptions } from './kernels.bench.ts';
export { loadBrowserPeers } from './peers/browser-peers.ts';
export { type PeerSize, peerCases } from './peers/cases.ts';
export { PEER_TIMING, type Peer, type PeerOp, type PeerRow } from './peers/peer.ts';
export { benchPeers, type PeerBenchOptions } from './peers/peers.bench.ts';
export { type ReportBlock, renderReport, reportBlocks } from './report.ts';
export { type BenchMeta, type BenchResult, type BenchRow, type Failure, rowProblems } from './rows.ts';
