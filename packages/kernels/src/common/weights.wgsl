// Weight element access for kernels that read one weight operand `W` (declared by the kernel as
// `var<storage, read> W: array<WElem>;`). Exactly one of the defines is on; see weights.ts.
// 16-bit weights without shader-f16 travel packed two per u32 (element 2i in the low half).
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
