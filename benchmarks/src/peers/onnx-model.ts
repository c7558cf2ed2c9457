/**
 * Minimal ONNX models, encoded here as protobuf bytes (the handful of ModelProto fields a one-graph
 * model needs; field numbers from onnx/onnx.proto), so the ONNX Runtime peer needs no model files and
 * no protobuf library. Every tensor is float32 unless said otherwise.
 *
 * ```ts
 * const bytes = onnxModel({
 *   inputs: [{ name: 'a', dims: [64, 32] }, { name: 'b', dims: [32, 16] }],
 *   outputs: [{ name: 'c', dims: [64, 16] }],
 *   nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['c'] }],
 * });
 * ```
 */

/** onnx.TensorProto.DataType */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;

export type OnnxAttribute = { name: string } & ({ f: number } | { i: number } | { ints: number[] });

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: OnnxAttribute[];
}

export interface OnnxValue {
  name: string;
  dims: number[];
  /** Default ONNX_FLOAT. */
  type?: number;
}

export interface OnnxInitializer extends OnnxValue {
  /** float32 values (ONNX_FLOAT) or int64 values given as numbers (ONNX_INT64). */
  values: Float32Array | number[];
}

export interface OnnxGraph {
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  nodes: OnnxNode[];
  initializers?: OnnxInitializer[];
  /** Default opset 17 (ReduceMean still takes `axes` as an attribute). */
  opset?: number;
}

/** Protobuf wire writer: varints, length-delimited fields, fixed32 floats. */
class Writer {
  private parts: number[] = [];

  varint(v: number): this {
    // int64 fields here are small and non-negative, except -1 axes (ten-byte two's complement).
    if (v < 0) {
      let lo = v >>> 0;
      let hi = Math.floor(v / 2 ** 32) >>> 0;
      for (let i = 0; i < 9; i++) {
        this.parts.push((lo & 0x7f) | 0x80);
        lo = ((lo >>> 7) | (hi << 25)) >>> 0;
        hi >>>= 7;
      }
      this.parts.push(1);
      return this;
    }
    while (v > 0x7f) {
      this.parts.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    this.parts.push(v);
    return this;
  }

  tag(field: number, wire: 0 | 2 | 5): this {
    return this.varint(field * 8 + wire);
  }

  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    for (const x of b) this.parts.push(x);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, w: Writer): this {
    return this.bytes(field, w.finish());
  }

  float(field: number, v: number): this {
    this.tag(field, 5);
    for (const x of new Uint8Array(Float32Array.of(v).buffer)) this.parts.push(x);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function valueInfo(v: OnnxValue): Writer {
  const shape = new Writer();
  for (const d of v.dims) shape.message(1, new Writer().int(1, d)); // Dimension.dim_value
  const tensor = new Writer().int(1, v.type ?? ONNX_FLOAT).message(2, shape); // elem_type, shape
  return new Writer().string(1, v.name).message(2, new Writer().message(1, tensor)); // TypeProto.tensor_type
}

function initializer(t: OnnxInitializer): Writer {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d);
  const type = t.type ?? ONNX_FLOAT;
  w.int(2, type).string(8, t.name);
  let raw: Uint8Array;
  if (type === ONNX_INT64) {
    const b = new BigInt64Array(t.values.length);
    for (let i = 0; i < b.length; i++) b[i] = BigInt(t.values[i]);
    raw = new Uint8Array(b.buffer);
  } else {
    const f = Float32Array.from(t.values);
    raw = new Uint8Array(f.buffer);
  }
  return w.bytes(9, raw); // raw_data, little-endian
}

function attribute(a: OnnxAttribute): Writer {
  const w = new Writer().string(1, a.name);
  if ('f' in a) return w.float(2, a.f).int(20, 1); // AttributeType FLOAT
  if ('i' in a) return w.int(3, a.i).int(20, 2); // INT
  for (const x of a.ints) w.int(8, x);
  return w.int(20, 7); // INTS
}

/** The ModelProto bytes of one graph. */
export function onnxModel(g: OnnxGraph): Uint8Array {
  const graph = new Writer();
  g.nodes.forEach((n, i) => {
    const node = new Writer();
    for (const x of n.inputs) node.string(1, x);
    for (const x of n.outputs) node.string(2, x);
    node.string(3, `${n.op.toLowerCase()}_${i}`).string(4, n.op);
    for (const a of n.attributes ?? []) node.message(5, attribute(a));
    graph.message(1, node);
  });
  graph.string(2, 'llara_peer');
  for (const t of g.initializers ?? []) graph.message(5, initializer(t));
  for (const v of g.inputs) graph.message(11, valueInfo(v));
  for (const v of g.outputs) graph.message(12, valueInfo(v));
  return new Writer()
    .int(1, 8) // ir_version 8 (opsets up to 18)
    .string(2, 'llara-benchmarks')
    .message(7, graph)
    .message(8, new Writer().string(1, '').int(2, g.opset ?? 17))
    .finish();
}
