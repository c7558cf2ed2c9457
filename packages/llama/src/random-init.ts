/**
 * Random weights at real model shapes, for speed and memory benchmarks (LLaMA-2-7B without
 * downloading 13 GB). Each tensor is generated on request from (seed, tensor name), so the same tensor
 * is always the same values and a 7B model never needs all its weights in host memory at once.
 * Values are uniform with standard deviation 0.02 (HF's initializer_range; uniform is much cheaper to
 * draw than Gaussian and just as good for timing); norm weights are 1.
 *
 * @example
 * const source = new RandomCheckpoint(LLAMA2_7B_CONFIG, { seed: 1, dtype: 'F16' });
 * const q0 = await source.read('model.layers.0.self_attn.q_proj.weight'); // 4096 x 4096 F16
 */
import { f32ToBf16Bits, f32ToF16Bits, seededRandom } from '@llara/gpu';
import type { LlamaConfig } from './config.ts';
import { expectedTensors, type FloatDType, numElements, type RawTensor } from './safetensors.ts';
import type { TensorSource } from './sharded.ts';

/** meta-llama/Llama-2-7b-hf's config. */
export const LLAMA2_7B_CONFIG: LlamaConfig = {
  hiddenSize: 4096,
  intermediateSize: 11008,
  numLayers: 32,
  numHeads: 32,
  numKvHeads: 32,
  headDim: 128,
  rmsNormEps: 1e-5,
  vocabSize: 32000,
  tieWordEmbeddings: false,
  ropeTheta: 10000,
  maxPositionEmbeddings: 4096,
  bosTokenId: 1,
  eosTokenId: 2,
  eosTokenIds: [2],
  padTokenId: null,
  torchDtype: 'float16',
};

/** FNV-1a of the name mixed with the seed: an independent stream per tensor. */
function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Values are drawn as 16-bit levels (two per 32-bit random number) of a uniform distribution, through a
 * 65536-entry table per dtype: an order of magnitude faster than converting each f32 to f16, and the
 * F16/BF16 tensors are exactly the roundings of the F32 ones.
 */
function levelTable(dtype: FloatDType, std: number): Float32Array | Uint16Array {
  const a = std * Math.sqrt(3);
  const values = new Float32Array(65536);
  for (let k = 0; k < 65536; k++) values[k] = a * ((2 * (k + 0.5)) / 65536 - 1);
  if (dtype === 'F32') return values;
  const convert = dtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
  return Uint16Array.from(values, convert);
}

/**
 * Rows [start, end) of a random tensor with rows of `rowLen` values, into `out` (F32 values or
 * F16/BF16 bits). Each row has its own stream, so any row range is cheap and equals the same rows of
 * the whole tensor. Norm weights are ones.
 */
function fillRows(
  out: Float32Array | Uint16Array,
  table: Float32Array | Uint16Array,
  one: number,
  name: string,
  seed: number,
  start: number,
  end: number,
  rowLen: number,
): void {
  if (name.endsWith('norm.weight')) {
    out.fill(one);
    return;
  }
  const base = tensorSeed(seed, name);
  for (let row = start; row < end; row++) {
    const rand = seededRandom((base ^ Math.imul(row + 1, 0x9e3779b1)) >>> 0);
    const o = (row - start) * rowLen;
    for (let c = 0; c < rowLen; c += 2) {
      const bits = rand() * 4294967296;
      out[o + c] = table[bits & 0xffff];
      if (c + 1 < rowLen) out[o + c + 1] = table[bits >>> 16];
    }
  }
}

/** One whole random tensor as f32 values (the F32 `RandomCheckpoint` tensor of that name). */
export function randomTensorValues(
  name: string,
  shape: readonly number[],
  seed: number,
  std = 0.02,
): Float32Array {
  const out = new Float32Array(numElements(shape));
  const rows = shape.length === 0 ? 1 : shape[0];
  fillRows(out, levelTable('F32', std), 1, name, seed, 0, rows, rows === 0 ? 0 : out.length / rows);
  return out;
}

/** A `TensorSource` of random weights for `config`, generated lazily per tensor (or row range). */
export class RandomCheckpoint implements TensorSource {
  readonly names: string[];
  readonly infos: Map<string, { dtype: FloatDType; shape: number[] }>;
  readonly totalBytes: number;
  private readonly seed: number;
  private readonly dtype: FloatDType;
  private readonly table: Float32Array | Uint16Array;

  constructor(config: LlamaConfig, options: { seed?: number; dtype?: FloatDType; std?: number } = {}) {
    this.seed = options.seed ?? 0;
    this.dtype = options.dtype ?? 'F32';
    this.table = levelTable(this.dtype, options.std ?? 0.02);
    const expected = expectedTensors(config);
    this.names = [...expected.keys()];
    this.infos = new Map([...expected].map(([n, shape]) => [n, { dtype: this.dtype, shape }]));
    const bytes = this.dtype === 'F32' ? 4 : 2;
    this.totalBytes = [...expected.values()].reduce((s, shape) => s + numElements(shape) * bytes, 0);
  }

  async read(name: string): Promise<RawTensor> {
    const info = this.infos.get(name);
    if (!info) throw new Error(`The random model has no tensor ${name}.`);
    return this.readRows(name, 0, info.shape[0]);
  }

  /** Each row has its own stream, so a row range equals the same rows of `read`. */
  async readRows(name: string, start: number, end: number): Promise<RawTensor> {
    const info = this.infos.get(name);
    if (!info) throw new Error(`The random model has no tensor ${name}.`);
    const rows = info.shape[0];
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= rows))
      throw new Error(`Rows [${start}, ${end}) are outside tensor ${name} with ${rows} rows.`);
    const rowLen = numElements(info.shape.slice(1));
    const shape = [end - start, ...info.shape.slice(1)];
    const n = (end - start) * rowLen;
    const out = this.dtype === 'F32' ? new Float32Array(n) : new Uint16Array(n);
    const one = this.dtype === 'F32' ? 1 : this.dtype === 'F16' ? 0x3c00 : 0x3f80;
    fillRows(out, this.table, one, name, this.seed, start, end, rowLen);
    return { dtype: this.dtype, shape, data: new Uint8Array(out.buffer) };
  }
}
