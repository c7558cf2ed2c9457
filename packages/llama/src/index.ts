export {
  appendMeanRows,
  extendVocabulary,
  FLAG_RELEASED_IDS,
  FLAG_TOKEN_COUNT,
  flagSpecialIds,
  flagSpecialTokens,
} from './added-tokens.ts';
export {
  type LlamaConfig,
  llamaConfigToJson,
  parameterCount,
  parseLlamaConfig,
  QUANT_LAYOUT,
  type TorchDType,
} from './config.ts';
export {
  describeFile,
  type FileSource,
  type ModelFiles,
  memoryFiles,
  readJson,
  readText,
  urlFiles,
} from './files.ts';
export { type LayerActs, type LayerInputs, layerBackward, layerForward } from './layer.ts';
export { type LinearSaved, type LoraContext, linearBackward, linearForward } from './linear.ts';
export { shapeOf, type UploadOptions, uploadModel } from './load-gpu.ts';
export { LoraGpu, type LoraPair } from './lora-gpu.ts';
export {
  checkFits,
  estimateMemory,
  type GpuMemoryLimits,
  type MemoryEstimate,
  type MemoryOptions,
  weightBytes,
} from './memory.ts';
export { type MergedModel, type MergeOptions, mergeLoraWeight, mergeModel } from './merge.ts';
export { type Batch, type DeviceBatch, LlamaModel, type TrainableRows, type TrainState } from './model.ts';
export { type OpenedModel, openModel, readAllFloat32 } from './open-model.ts';
export {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  adapterConfigToJson,
  adapterTensors,
  initLoraWeights,
  LORA_TARGETS,
  type LoraConfig,
  type LoraMatrices,
  type LoraTarget,
  type LoraWeights,
  loraDims,
  loraKey,
  loraScale,
  parseAdapterConfig,
  readAdapter,
  type SavedModule,
  type SavedModuleName,
  serializeAdapter,
} from './peft.ts';
export type { QuantizePool } from './quantize-jobs.ts';
export { quantizedWords, quantizeRawTensor } from './quantize-tensor.ts';
export {
  createWebQuantizePool,
  defaultWebQuantizeWorkers,
  type WebQuantizePoolOptions,
} from './quantize-web-pool.ts';
export { LLAMA2_7B_CONFIG, RandomCheckpoint, randomTensorValues } from './random-init.ts';
export { randomLora } from './random-lora.ts';
export { type ForwardCase, type MaskJson, maskFromJson } from './reference/forward-case.ts';
export {
  type LlamaRefInputs,
  type LlamaRefOptions,
  llamaForwardRef,
  logitsAt,
  type RefWeights,
  ropeInvFreq,
} from './reference/llama-ref.ts';
export { type RowPart, RowSplit, rowsPerBinding, uploadRowSplit } from './row-split.ts';
export {
  checkTensorsAgainstConfig,
  expectedTensors,
  type FloatDType,
  headerLength,
  isFloatDType,
  MAX_HEADER_BYTES,
  numElements,
  parseSafetensorsHeader,
  type RawTensor,
  readSafetensorsHeader,
  readTensor,
  readTensorRows,
  SAFETENSORS_DTYPE_BYTES,
  type SafetensorsDType,
  type SafetensorsHeader,
  type TensorInfo,
  tensorToFloat32,
  tensorToHost,
} from './safetensors.ts';
export {
  type SafetensorsLayout,
  safetensorsLayout,
  serializeSafetensors,
  type TensorSpec,
  type TensorToWrite,
  tensorBytesOf,
} from './safetensors-writer.ts';
export type { LlamaShape } from './shape.ts';
export {
  Checkpoint,
  type LoadProgress,
  parseShardIndex,
  readFloat32,
  SAFETENSORS_FILE,
  SAFETENSORS_INDEX_FILE,
  streamTensors,
  type TensorSource,
} from './sharded.ts';
export {
  type AddedTokenSpec,
  checkTokenizerMatchesModel,
  type EncodeOptions,
  LlamaTokenizer,
} from './tokenizer.ts';
export {
  specialTokensMapWithTokens,
  tokenizerConfigWithTokens,
  tokenizerJsonWithTokens,
} from './tokenizer-export.ts';
export {
  LAYER_TENSORS,
  type LayerWeights,
  type LlamaWeights,
  releaseWeights,
  weightTensors,
} from './weights-gpu.ts';
