/**
 * The ONNX graph of each shared operation, as the ONNX Runtime peer runs it: MatMul (or Gemm with
 * transB for weights stored [N, K]); attention composed as Transpose(k), MatMul, Mul(scale),
 * Add(causal mask), Softmax, MatMul on head-major [B, H, T, D] inputs; RMSNorm as Mul, ReduceMean,
 * Add(eps), Sqrt, Div, Mul(w); TopK (values).
 *
 * ```ts
 * const { bytes, feeds, output } = onnxCase(peerCases('tiny')[0], inputs);
 * ```
 */

import { causalMaskValues, toHeadMajor } from './layout.ts';
import { ONNX_INT64, type OnnxGraph, onnxModel } from './onnx-model.ts';
import type { PeerCase, PeerInputs } from './peer.ts';

export interface OnnxCase {
  bytes: Uint8Array;
  /** Graph inputs: name, dims and host values (already in the graph's layout). */
  feeds: { name: string; dims: number[]; values: Float32Array }[];
  output: string;
  /** The ops, for the report. */
  describe: string;
}

export function onnxCase(c: PeerCase, inputs: PeerInputs): OnnxCase {
  const s = c.spec;
  switch (s.op) {
    case 'matmul': {
      const nt = s.layout === 'nt';
      const g: OnnxGraph = {
        inputs: [
          { name: 'a', dims: [s.M, s.K] },
          { name: 'b', dims: nt ? [s.N, s.K] : [s.K, s.N] },
        ],
        outputs: [{ name: 'c', dims: [s.M, s.N] }],
        nodes: [
          nt
            ? { op: 'Gemm', inputs: ['a', 'b'], outputs: ['c'], attributes: [{ name: 'transB', i: 1 }] }
            : { op: 'MatMul', inputs: ['a', 'b'], outputs: ['c'] },
        ],
      };
      return {
        bytes: onnxModel(g),
        feeds: [
          { name: 'a', dims: g.inputs[0].dims, values: inputs.a },
          { name: 'b', dims: g.inputs[1].dims, values: inputs.b },
        ],
        output: 'c',
        describe: nt ? 'Gemm(a, b, transB)' : 'MatMul(a, b)',
      };
    }
    case 'attention': {
      const dims = [s.B, s.H, s.T, s.D];
      const g: OnnxGraph = {
        inputs: ['q', 'k', 'v'].map((name) => ({ name, dims })),
        outputs: [{ name: 'out', dims }],
        initializers: [
          { name: 'scale', dims: [], values: Float32Array.of(1 / Math.sqrt(s.D)) },
          { name: 'mask', dims: [s.T, s.T], values: causalMaskValues(s.T) },
        ],
        nodes: [
          {
            op: 'Transpose',
            inputs: ['k'],
            outputs: ['kt'],
            attributes: [{ name: 'perm', ints: [0, 1, 3, 2] }],
          },
          { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['scores'] },
          { op: 'Mul', inputs: ['scores', 'scale'], outputs: ['scaled'] },
          { op: 'Add', inputs: ['scaled', 'mask'], outputs: ['masked'] },
          { op: 'Softmax', inputs: ['masked'], outputs: ['p'], attributes: [{ name: 'axis', i: -1 }] },
          { op: 'MatMul', inputs: ['p', 'v'], outputs: ['out'] },
        ],
      };
      return {
        bytes: onnxModel(g),
        feeds: [
          { name: 'q', dims, values: toHeadMajor(inputs.q, s.B, s.T, s.H, s.D) },
          { name: 'k', dims, values: toHeadMajor(inputs.k, s.B, s.T, s.KV, s.D) },
          { name: 'v', dims, values: toHeadMajor(inputs.v, s.B, s.T, s.KV, s.D) },
        ],
        output: 'out',
        describe: 'Transpose(k), MatMul, Mul(scale), Add(causal mask), Softmax, MatMul',
      };
    }
    case 'rmsnorm': {
      const g: OnnxGraph = {
        inputs: [{ name: 'x', dims: [s.T, s.D] }],
        outputs: [{ name: 'y', dims: [s.T, s.D] }],
        initializers: [
          { name: 'w', dims: [s.D], values: inputs.w },
          { name: 'eps', dims: [], values: Float32Array.of(s.eps) },
        ],
        nodes: [
          { op: 'Mul', inputs: ['x', 'x'], outputs: ['sq'] },
          {
            op: 'ReduceMean',
            inputs: ['sq'],
            outputs: ['ms'],
            attributes: [
              { name: 'axes', ints: [-1] },
              { name: 'keepdims', i: 1 },
            ],
          },
          { op: 'Add', inputs: ['ms', 'eps'], outputs: ['mse'] },
          { op: 'Sqrt', inputs: ['mse'], outputs: ['rms'] },
          { op: 'Div', inputs: ['x', 'rms'], outputs: ['xn'] },
          { op: 'Mul', inputs: ['xn', 'w'], outputs: ['y'] },
        ],
      };
      return {
        bytes: onnxModel(g),
        feeds: [{ name: 'x', dims: [s.T, s.D], values: inputs.x }],
        output: 'y',
        describe: 'Mul(x, x), ReduceMean, Add(eps), Sqrt, Div, Mul(w)',
      };
    }
    case 'topk': {
      const g: OnnxGraph = {
        inputs: [{ name: 'scores', dims: [s.rows, s.cols] }],
        outputs: [
          { name: 'values', dims: [s.rows, s.k] },
          { name: 'indices', dims: [s.rows, s.k], type: ONNX_INT64 },
        ],
        initializers: [{ name: 'k', dims: [1], values: [s.k], type: ONNX_INT64 }],
        nodes: [
          {
            op: 'TopK',
            inputs: ['scores', 'k'],
            outputs: ['values', 'indices'],
            attributes: [
              { name: 'axis', i: -1 },
              { name: 'largest', i: 1 },
              { name: 'sorted', i: 1 },
            ],
          },
        ],
      };
      return {
        bytes: onnxModel(g),
        feeds: [{ name: 'scores', dims: [s.rows, s.cols], values: inputs.scores }],
        output: 'values',
        describe: `TopK(k ${s.k}) values`,
      };
    }
  }
}
