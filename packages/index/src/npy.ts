/**
 * NumPy `.npy` files (format versions 1.0, 2.0 and 3.0; little-endian; C order), browser-safe.
 * Layout: magic `\x93NUMPY`, major, minor, header length (u16 for 1.0, u32 for 2.0/3.0), a Python dict
 * literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and a newline
 * so the data starts at a multiple of 64 bytes, then the raw elements.
 * `f2` (float16) data travels as raw bits in a Uint16Array (convert with `fromF16Array` from `@llara/gpu`).
 */

export type NpyDType = 'f2' | 'f4' | 'f8' | 'i1' | 'u1' | 'b1' | 'i2' | 'u2' | 'i4' | 'u4' | 'i8' | 'u8';

export type NpyData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** An n-dimensional array in C (row-major) order. */
export interface NpyArray {
  dtype: NpyDType;
  shape: number[];
  data: NpyData;
}

type TypedCtor = {
  new (buffer: ArrayBuffer, offset: number, length: number): NpyData;
  BYTES_PER_ELEMENT: number;
};

const CTORS: Record<NpyDType, TypedCtor> = {
  f2: Uint16Array,
  f4: Float32Array,
  f8: Float64Array,
  i1: Int8Array,
  u1: Uint8Array,
  b1: Uint8Array,
  i2: Int16Array,
  u2: Uint16Array,
  i4: Int32Array,
  u4: Uint32Array,
  i8: BigInt64Array,
  u8: BigUint64Array,
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ALIGN = 64;

/** Bytes per element of a dtype. */
export function npyItemSize(dtype: NpyDType): number {
  return CTORS[dtype].BYTES_PER_ELEMENT;
}

function descrOf(dtype: NpyDType): string {
  return `${npyItemSize(dtype) === 1 ? '|' : '<'}${dtype}`;
}

function parseDescr(descr: string, name: string): NpyDType {
  const m = /^([<>|=])([fiub][1248])$/.exec(descr);
  const kind = m?.[2] as NpyDType | undefined;
  if (!m || !kind || !(kind in CTORS)) {
    throw new Error(
      `${name} has dtype '${descr}', which is not supported (use one of ${Object.keys(CTORS).join(', ')}).`,
    );
  }
  if (m[1] === '>' && npyItemSize(kind) > 1)
    throw new Error(`${name} is big-endian ('${descr}'); only little-endian is supported.`);
  return kind;
}

function parseShape(text: string, name: string): number[] {
  const inner = text.trim();
  if (inner === '') return [];
  const parts = inner.split(',').map((p) => p.trim());
  if (parts[parts.length - 1] === '') parts.pop();
  return parts.map((p) => {
    if (!/^\d+L?$/.test(p))
      throw new Error(`${name} has a header shape "(${text})" that is not a tuple of sizes.`);
    return Number.parseInt(p, 10);
  });
}

interface NpyHeader {
  dtype: NpyDType;
  shape: number[];
  dataOffset: number;
}

/** Reads and checks the magic, version and header dict. */
export function decodeNpyHeader(bytes: Uint8Array, name = 'array.npy'): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new Error(`${name} is not a NumPy .npy file: it does not start with the \\x93NUMPY magic.`);
  }
  const major = bytes[6];
  if (major < 1 || major > 3 || bytes[7] !== 0) {
    throw new Error(
      `${name} has .npy format version ${major}.${bytes[7]}; versions 1.0, 2.0 and 3.0 are supported.`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) throw new Error(`${name} is truncated inside its header.`);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataOffset = 8 + lenBytes + headerLen;
  if (bytes.length < dataOffset) {
    throw new Error(
      `${name} is truncated: its header should be ${headerLen} bytes but the file ends before that.`,
    );
  }
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(
    bytes.subarray(8 + lenBytes, dataOffset),
  );
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) {
    throw new Error(`${name} has a malformed .npy header (it needs 'descr', 'fortran_order' and 'shape').`);
  }
  if (fortran[1] === 'True') throw new Error(`${name} is in Fortran order; only C order is supported.`);
  return { dtype: parseDescr(descr[1], name), shape: parseShape(shape[1], name), dataOffset };
}

/** Number of elements of a shape (1 for a scalar). */
export function numElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Decodes a `.npy` file. The data is copied, so the result never aliases `bytes`.
 * @example const { dtype, shape, data } = decodeNpy(new Uint8Array(await (await fetch(url)).arrayBuffer()));
 */
export function decodeNpy(bytes: Uint8Array, name = 'array.npy'): NpyArray {
  const { dtype, shape, dataOffset } = decodeNpyHeader(bytes, name);
  const count = numElements(shape);
  const nbytes = count * npyItemSize(dtype);
  const found = bytes.length - dataOffset;
  if (found < nbytes)
    throw new Error(
      `${name} is truncated: shape (${shape.join(', ')}) needs ${nbytes} data bytes but it has ${found}.`,
    );
  if (found > nbytes) throw new Error(`${name} has ${found - nbytes} unexpected bytes after its data.`);
  // A fresh, aligned buffer (Node's Buffer.slice would alias the shared pool instead of copying).
  const copy = new Uint8Array(nbytes);
  copy.set(bytes.subarray(dataOffset, dataOffset + nbytes));
  return { dtype, shape, data: new CTORS[dtype](copy.buffer, 0, count) };
}

function headerText(dtype: NpyDType, shape: readonly number[]): string {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  return `{'descr': '${descrOf(dtype)}', 'fortran_order': False, 'shape': (${dims}), }`;
}

/**
 * Encodes an array as `.npy` bytes (version 1.0, or 2.0 when the header needs more than 65,535 bytes),
 * laid out as NumPy writes them.
 * @example encodeNpy({ dtype: 'f4', shape: [2, 3], data: new Float32Array(6) })
 */
export function encodeNpy(array: NpyArray): Uint8Array {
  const { dtype, shape, data } = array;
  if (!(dtype in CTORS)) throw new Error(`Cannot write .npy: dtype "${dtype}" is not supported.`);
  if (!(data instanceof CTORS[dtype])) {
    throw new Error(
      `Cannot write .npy: dtype ${dtype} needs a ${CTORS[dtype].name}, got a ${data.constructor.name}.`,
    );
  }
  if (shape.some((d) => !Number.isInteger(d) || d < 0) || numElements(shape) !== data.length) {
    throw new Error(`Cannot write .npy: shape (${shape.join(', ')}) does not match ${data.length} elements.`);
  }
  const text = headerText(dtype, shape);
  const padded = (prefix: number) =>
    `${text}${' '.repeat(ALIGN - ((prefix + text.length + 1) % ALIGN || ALIGN))}\n`;
  // Version 1.0 stores the padded header length in a u16; longer headers need 2.0's u32.
  const major = padded(10).length < 65536 ? 1 : 2;
  const prefix = major === 1 ? 10 : 12;
  const header = new TextEncoder().encode(padded(prefix));
  const out = new Uint8Array(prefix + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(header, prefix);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), prefix + header.length);
  return out;
}
