export { BindGroupCache, type BufferRange } from './bind-groups.ts';
export { requestBrowserGpu } from './browser.ts';
export {
  type Capabilities,
  formatCapabilities,
  readCapabilities,
  type SubgroupMatrixConfig,
} from './capabilities.ts';
export { flopChunks, grid1d, params } from './dispatch.ts';
export {
  DTYPE_BYTES,
  type DType,
  type HostArray,
  hostArrayFor,
  isDType,
  type PlainDType,
  tensorByteLength,
} from './dtype.ts';
export { DeviceLostError, GpuError, GpuLimitError, GpuUnavailableError, LAVAPIPE_HINT } from './errors.ts';
export { formatBytes, Gpu, type GpuOptions, type KernelFeature, requestGpu } from './gpu.ts';
export {
  bf16BitsToF32,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  fromBf16Array,
  fromF16Array,
  toBf16Array,
  toF16Array,
} from './half.ts';
export { PipelineCache, type PipelineSpec } from './pipelines.ts';
export { BufferPool, type PoolStats } from './pool.ts';
export { preprocess } from './preprocess.ts';
export {
  isQuantFormat,
  QUANT_BITS,
  QUANT_BLOCK,
  QUANT_FORMATS,
  type QuantFormat,
  quantBlocks,
  quantCodeWords,
  quantRowWords,
} from './quant-layout.ts';
export { type Binding, type Dispatch, type DispatchTiming, Recorder } from './recorder.ts';
export { contiguousStrides, numel, Tensor } from './tensor.ts';
export {
  assertClose,
  type CloseReport,
  compareClose,
  cosine,
  randomArray,
  seededRandom,
  type Tolerance,
} from './testing.ts';
