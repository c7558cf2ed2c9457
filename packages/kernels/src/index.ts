export { denseMask, type MaskDescription, maskAllows, paddedCausalMask } from './attention/mask.ts';
export { type WeightView, weightDefines, weightView, withWeights } from './common/weights.ts';
