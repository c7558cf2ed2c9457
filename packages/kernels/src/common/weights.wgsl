// Weight element access for kernels that read one weight operand `W` (declared by the kernel as
// `var<storage, read> W: array<WElem>;`). Exactly one of the defines is on; see weights.ts.
// 16-bit weights without shader-f16 travel packed two per u32 (element 2i in the low half).
// wload(i): element i of the flat weight (plain views only). wloadRC(r, c, cols): element (r, c) of a
// [rows, cols] weight, for every view; the block-quantized views (W_QUANT) have only this one, since
// their rows are padded to whole blocks (docs/quantization.md), and wload4RC(r, c, cols): elements
// (r, c..c+3) for c a multiple of 4, decoded word-wise (one code word, or half of one, and one scale
// for all four, since an aligned run of 4 never crosses a block), zero past `cols`; the 4-bit views
// also have wload8RC(r, c, cols): (r, c..c+7) for c a multiple of 8, all of one code word. CPU
// transcription of the quantized decode: weights.emu.ts.
#if W_F16
enable f16;
alias WElem = f16;
fn wload(i: u32) -> f32 { return f32(W[i]); }
#endif
#if W_F32
alias WElem = f32;
fn wload(i: u32) -> f32 { return W[i]; }
#endif
#if W_F16_PACKED
alias WElem = u32;
fn wload(i: u32) -> f32 {
  let p = unpack2x16float(W[i >> 1u]);
  return select(p.x, p.y, (i & 1u) == 1u);
}
#endif
#if W_BF16
alias WElem = u32;
fn wload(i: u32) -> f32 {
  let v = W[i >> 1u];
  return bitcast<f32>(select(v << 16u, v & 0xffff0000u, (i & 1u) == 1u));
}
#endif
#if W_PLAIN
fn wloadRC(r: u32, c: u32, cols: u32) -> f32 { return wload(r * cols + c); }
#endif
#if W_QUANT
alias WElem = u32;
// The f16 scale of block b of the row whose scales start at word `s0` (two per word, even b low).
fn qscale(s0: u32, b: u32) -> f32 {
  let s = unpack2x16float(W[s0 + (b >> 1u)]);
  return select(s.x, s.y, (b & 1u) == 1u);
}
// v with the lanes of columns c + j >= cols zeroed (padding codes decode to 0, but a file may hold any).
fn qmask4(v: vec4<f32>, c: u32, cols: u32) -> vec4<f32> {
  return select(vec4<f32>(0.0), v, vec4<u32>(c) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(cols));
}
// The 4 nibbles of word w starting at bit 4 * (c & 4): the codes of columns c..c+3 (c % 4 == 0).
fn qnibbles4(w: u32, c: u32) -> vec4<u32> {
  return (vec4<u32>(w >> ((c & 4u) * 4u)) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u);
}
#endif
#if W_Q8
// Blocks of 32 int8 codes, 4 per word (first value in the low byte); value = scale * code.
fn wloadRC(r: u32, c: u32, cols: u32) -> f32 {
  let blocks = (cols + 31u) >> 5u;
  let row = r * (blocks * 8u + ((blocks + 1u) >> 1u));
  let q = extractBits(bitcast<i32>(W[row + (c >> 2u)]), (c & 3u) * 8u, 8u);
  return f32(q) * qscale(row + blocks * 8u, c >> 5u);
}
fn wload4RC(r: u32, c: u32, cols: u32) -> vec4<f32> {
  let blocks = (cols + 31u) >> 5u;
  let row = r * (blocks * 8u + ((blocks + 1u) >> 1u));
  // Each byte shifted to the top, then arithmetically back down: the sign-extended codes.
  let q = (vec4<i32>(bitcast<i32>(W[row + (c >> 2u)])) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
  return qmask4(vec4<f32>(q) * qscale(row + blocks * 8u, c >> 5u), c, cols);
}
#endif
#if W_Q4
// Blocks of 32 nibbles holding code + 8, 8 per word (first value in the low nibble).
fn wloadRC(r: u32, c: u32, cols: u32) -> f32 {
  let blocks = (cols + 31u) >> 5u;
  let row = r * (blocks * 4u + ((blocks + 1u) >> 1u));
  let q = i32(extractBits(W[row + (c >> 3u)], (c & 7u) * 4u, 4u)) - 8;
  return f32(q) * qscale(row + blocks * 4u, c >> 5u);
}
fn wload4RC(r: u32, c: u32, cols: u32) -> vec4<f32> {
  let blocks = (cols + 31u) >> 5u;
  let row = r * (blocks * 4u + ((blocks + 1u) >> 1u));
  let q = vec4<i32>(qnibbles4(W[row + (c >> 3u)], c)) - vec4<i32>(8);
  return qmask4(vec4<f32>(q) * qscale(row + blocks * 4u, c >> 5u), c, cols);
}
fn wload8RC(r: u32, c: u32, cols: u32) -> array<vec4<f32>, 2> {
  let blocks = (cols + 31u) >> 5u;
  let row = r * (blocks * 4u + ((blocks + 1u) >> 1u));
  let w = W[row + (c >> 3u)];
  let s = qscale(row + blocks * 4u, c >> 5u);
  let lo = vec4<f32>(vec4<i32>(qnibbles4(w, 0u)) - vec4<i32>(8)) * s;
  let hi = vec4<f32>(vec4<i32>(qnibbles4(w, 4u)) - vec4<i32>(8)) * s;
  return array<vec4<f32>, 2>(qmask4(lo, c, cols), qmask4(hi, c + 4u, cols));
}
#endif
#if W_NF4
// Blocks of 64 nibbles indexing QLoRA's NormalFloat levels; value = absmax * level.
var<private> NF4: array<f32, 16> = array<f32, 16>(
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
  0.7229568362236023, 1.0);
fn wloadRC(r: u32, c: u32, cols: u32) -> f32 {
  let blocks = (cols + 63u) >> 6u;
  let row = r * (blocks * 8u + ((blocks + 1u) >> 1u));
  let code = extractBits(W[row + (c >> 3u)], (c & 7u) * 4u, 4u);
  return NF4[code] * qscale(row + blocks * 8u, c >> 6u);
}
fn wload4RC(r: u32, c: u32, cols: u32) -> vec4<f32> {
  let blocks = (cols + 63u) >> 6u;
  let row = r * (blocks * 8u + ((blocks + 1u) >> 1u));
  let q = qnibbles4(W[row + (c >> 3u)], c);
  let v = vec4<f32>(NF4[q.x], NF4[q.y], NF4[q.z], NF4[q.w]);
  return qmask4(v * qscale(row + blocks * 8u, c >> 6u), c, cols);
}
fn wload8RC(r: u32, c: u32, cols: u32) -> array<vec4<f32>, 2> {
  let blocks = (cols + 63u) >> 6u;
  let row = r * (blocks * 8u + ((blocks + 1u) >> 1u));
  let w = W[row + (c >> 3u)];
  let s = qscale(row + blocks * 8u, c >> 6u);
  let a = qnibbles4(w, 0u);
  let b = qnibbles4(w, 4u);
  let lo = vec4<f32>(NF4[a.x], NF4[a.y], NF4[a.z], NF4[a.w]) * s;
  let hi = vec4<f32>(NF4[b.x], NF4[b.y], NF4[b.z], NF4[b.w]) * s;
  return array<vec4<f32>, 2>(qmask4(lo, c, cols), qmask4(hi, c + 4u, cols));
}
#endif
