export { benchMeta } from './bench-meta.ts';
export type { CheckResult, CheckStatus } from './check-result.ts';
export { type ChecksOptions, runChecks, summarizeChecks } from './checks.ts';
export { type DoctorReport, doctor } from './doctor.ts';
export {
  benchSearch,
  formatSearchBench,
  peakBandwidthGBps,
  type SearchBenchOptions,
  type SearchBenchRow,
} from './index-search.bench.ts';
export {
  benchKernels,
  KERNEL_NAMES,
  type KernelBenchOptions,
  type KernelShapes,
  kernelPlan,
  kernelShapes,
} from './kernels.bench.ts';
export { benchModel, type ModelBenchOptions, modelPlan, TINY_CONFIG } from './model.bench.ts';
export { type ParityCase, type ParityFile, readParityFiles, runParity } from './parity.ts';
export { buildOurs, type PeerSize, peerCases, peerInputs } from './peers/cases.ts';
export {
  comparePeer,
  maxAbsDiff,
  PEER_TIMING,
  type Peer,
  type PeerCase,
  type PeerInputs,
  type PeerRow,
  peerTolerance,
  type Runnable,
} from './peers/peer.ts';
export { benchPeers, type PeerBenchOptions } from './peers/peers.bench.ts';
export { createTfjsPeer } from './peers/tfjs.ts';
export {
  type ChecksFile,
  normalizeTorch,
  type ReportBlock,
  type ReportInput,
  renderReport,
  reportBlocks,
  type TorchResult,
  type TorchRow,
} from './report.ts';
export { type DevicePeaks, devicePeaks, peakOf, type Roofline, rooflineFraction } from './roofline.ts';
export {
  type BenchMeta,
  type BenchResult,
  type BenchRow,
  type Failure,
  type MemoryUse,
  median,
  rowProblems,
  type Suite,
} from './rows.ts';
export { type RunBenchOptions, type RunSuite, runBench, SUITES, torchPlan } from './run-bench.ts';
export { randomPretrainRows, randomText, wordTokenizer } from './synthetic-text.ts';
export { type Timing, type TimingOptions, timeRecorded, timeWall } from './timing.ts';
export type { TorchDType, TorchSpec } from './torch-plan.ts';
