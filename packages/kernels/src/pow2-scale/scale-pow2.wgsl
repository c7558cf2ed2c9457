// Multiplies n f32 values by a power of two derived from a max-abs (absmax.wgsl's bits): the scale
// s = 2^ceil(log2(max)) (1 when the max is 0, at most 2^127), so x / s lies in [-1, 1] and survives
// rounding to f16, and both x / s and y * s are exact in f32 (powers of two; no overflow, and
// underflow only below 2^-126 s). NaN in the max makes every output NaN, as the f32 path would.
//   DIVIDE:  out = x / s
//   else:    out = x * s (+ out when p.accumulate != 0)
struct Params {
  n: u32,
  nx: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> maxbits: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WG: u32 = 256u;

/** 2^ceil(log2(m)) for the float with bits b (>= 0), from its exponent field alone. */
fn pow2_scale(b: u32) -> f32 {
  if (b == 0u) {
    return 1.0;
  }
  if (b > 0x7f800000u) {
    return bitcast<f32>(b); // NaN
  }
  var e = b >> 23u; // biased exponent; 0 for subnormals
  if ((b & 0x7fffffu) != 0u || e == 0u) {
    e += 1u;
  }
  return bitcast<f32>(clamp(e, 1u, 254u) << 23u);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * p.nx) * WG + lid;
  if (i >= p.n) {
    return;
  }
  let s = pow2_scale(maxbits[0]);
#if DIVIDE
  out[i] = x[i] / s;
#else
  var v = x[i] * s;
  if (p.accumulate != 0u) {
    v += out[i];
  }
  out[i] = v;
#endif
}
