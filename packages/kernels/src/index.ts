export { type AdamwRefOptions, adamwRef } from './adamw/adamw.ref.ts';
export { type AdamwOptions, adamw } from './adamw/adamw.ts';
export { type AttentionRefOptions, attentionBackwardRef, attentionRef } from './attention/attention.ref.ts';
export { attentionBackward } from './attention/attention-backward.ts';
export { attentionBackwardSubgroupMatrixShape } from './attention/attention-backward-subgroup-matrix.ts';
export {
  type AttentionOptions,
  type AttentionVariant,
  MAX_HEAD_DIM,
} from './attention/attention-config.ts';
export { attentionForward, describeAttention } from './attention/attention-forward.ts';
export {
  ATTENTION_SM_MAX_HEAD_DIM,
  attentionSubgroupMatrixShape,
} from './attention/attention-forward-subgroup-matrix.ts';
export { type AttentionLayout, attentionLayout } from './attention/attention-layout.ts';
export { type GpuMask, maskTable, uploadMask } from './attention/gpu-mask.ts';
export { denseMask, type MaskDescription, maskAllows, paddedCausalMask } from './attention/mask.ts';
export { bowLossRef } from './bow-loss/bow-loss.ref.ts';
export { type BowLossOptions, bowLoss } from './bow-loss/bow-loss.ts';
export { copyColumnsRef } from './column-block/column-block.ref.ts';
export { type ColumnBlock, copyColumns } from './column-block/column-block.ts';
export { type WeightView, weightDefines, weightView, withWeights } from './common/weights.ts';
export { crossEntropyRef, sumRowsRef } from './cross-entropy/cross-entropy.ref.ts';
export { type CrossEntropyOptions, crossEntropy } from './cross-entropy/cross-entropy.ts';
export { type RowReduceVariant, rowReduceVariant } from './cross-entropy/row-reduce.ts';
export { sumRows } from './cross-entropy/sum-rows.ts';
export { dropoutConstants, dropoutHash, dropoutRef, pcgHash } from './dropout/dropout.ref.ts';
export { type DropoutOptions, dropout } from './dropout/dropout.ts';
export { addRef, axpyRef, castToF32Ref, fillRef, scaleRef } from './elementwise/elementwise.ref.ts';
export { add, axpy, castToF32, copyTensor, fill, scale } from './elementwise/elementwise.ts';
export { embeddingBackwardRef, embeddingRef } from './embedding/embedding.ref.ts';
export { type EmbeddingPart, embedding, embeddingBackward } from './embedding/embedding.ts';
export { clipFactorRef, sumSquaresRef } from './grad-norm/grad-norm.ref.ts';
export { clipFactor, sumSquaresInto, zeroAcc } from './grad-norm/grad-norm.ts';
export { infoNceRef } from './infonce/infonce.ref.ts';
export { type InfoNceOptions, infoNce, infoNceLabels } from './infonce/infonce.ts';
export { type StridedMatmulOptions, stridedMatmul } from './infonce/scores.ts';
export { l2NormalizeBackwardRef, l2NormalizeRef } from './l2-normalize/l2-normalize.ref.ts';
export { type L2NormalizeOptions, l2Normalize, l2NormalizeBackward } from './l2-normalize/l2-normalize.ts';
export { matmulRef } from './matmul/matmul.ref.ts';
export { type MatmulFamily, type MatmulOptions, matmul, matmulVariant } from './matmul/matmul.ts';
export { GEMV_MAX_M } from './matmul/matmul-gemv.ts';
export { matmulScaledA } from './matmul/matmul-scaled.ts';
export {
  SUBGROUP_MATRIX_TILE,
  SUBGROUP_MATRIX_TILES,
  type SubgroupMatrixShape,
  type SubgroupMatrixTile,
  subgroupMatrixShape,
  subgroupMatrixTileName,
} from './matmul/matmul-subgroup-matrix.ts';
export { meanPoolBackwardRef, meanPoolRef } from './mean-pool/mean-pool.ref.ts';
export { type MeanPoolOptions, meanPool, meanPoolBackward, meanPoolRows } from './mean-pool/mean-pool.ts';
export { absMaxRef, pow2ScaleRef } from './pow2-scale/pow2-scale.ref.ts';
export { absMaxBits, scaleByPow2 } from './pow2-scale/pow2-scale.ts';
export { NF4_LEVELS } from './quant/nf4-levels.ts';
export { quantizeMatrixRef } from './quant/quantize.ref.ts';
export { dequantizeCode, dequantizeMatrix, quantizeMatrix, quantizeRow } from './quant/quantize.ts';
export { rmsnormBackwardRef, rmsnormRef } from './rmsnorm/rmsnorm.ref.ts';
export { type RmsnormVariant, rmsnorm, rmsnormBackward, rmsnormVariant } from './rmsnorm/rmsnorm.ts';
export { ropeRef } from './rope/rope.ref.ts';
export {
  ROPE_MAX_HEAD_DIM,
  type RopeOptions,
  type RopeScaling,
  rope,
  ropeBackward,
  ropeInvFreq,
} from './rope/rope.ts';
export { gatherRowsRef, scatterAddRowsRef } from './rows/rows.ref.ts';
export { gatherRows, scatterAddRows } from './rows/rows.ts';
export { swigluBackwardRef, swigluRef } from './swiglu/swiglu.ref.ts';
export { swiglu, swigluBackward } from './swiglu/swiglu.ts';
export { type TopkShape, topkRef } from './topk/topk.ref.ts';
export {
  describeTopk,
  TOPK_MAX_K,
  type TopkOptions,
  topk,
  topkSegments,
  topkTargetGroups,
} from './topk/topk.ts';
