/** The dimensions the GPU graph needs (a subset of LlamaConfig, so tests can build models directly). */
export interface LlamaShape {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** Rows of the embedding / LM head actually on the device (base vocabulary + added tokens). */
  vocabSize: number;
}
