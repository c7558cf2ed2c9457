// Rotary position embedding (HF LLaMA's rotate_half layout), in place, one (x1, x2) pair per
// invocation; the grid folds past 65,535 workgroups: q = (wid.x + wid.y * nx) * WG + lid.
// x: f32 [T, heads, head_dim] row-major (head_dim contiguous); positions: i32 [T].
// For pair i < half = head_dim / 2 of head h of token t, with angle = f32(pos[t]) * inv_freq[i]
// rounded to f32 as HF computes it:
//   (x1, x2) = (x[i], x[i + half])  ->  (x1 cos - x2 s, x2 cos + x1 s),  s = dir * sin
// dir = -1 applies the transpose rotation (the backward pass).
struct Params {
  T: u32,
  heads: u32,
  half: u32,
  nx: u32,
  dir: f32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
  // HF's inv_freq in f32 (scaling folded in), 4 per vec4 (uniform arrays have a 16-byte stride).
  inv_freq: array<vec4f, 32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> positions: array<i32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

override WG: u32 = 256u;

// (sin a, cos a) to about 1 ulp for |a| < ~8000 (degrading slowly beyond), the same on every device:
// WGSL's own sin/cos promise only 2^-11 absolute error, and nothing outside [-pi, pi]. Cephes' sinf:
// Cody-Waite reduction by pi/2 in three parts (j * part is exact for the first two), then minimax
// polynomials on [-pi/4, pi/4].
fn sincos(a: f32) -> vec2f {
  let j = round(a * 0.63661977236758134);
  var r = a - j * 1.5703125;
  r = r - j * 4.837512969970703125e-4;
  r = r - j * 7.54978995489188216e-8;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  switch (bitcast<u32>(i32(j)) & 3u) {
    case 0u: {
      return vec2f(s, c);
    }
    case 1u: {
      return vec2f(c, -s);
    }
    case 2u: {
      return vec2f(-s, -c);
    }
    default: {
      return vec2f(-c, s);
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = (wid.x + wid.y * p.nx) * WG + lid;
  let per_token = p.heads * p.half;
  if (q >= p.T * per_token) {
    return;
  }
  let t = q / per_token;
  let h = (q % per_token) / p.half;
  let i = q % p.half;
  let angle = f32(positions[t]) * p.inv_freq[i / 4u][i % 4u];
  let sc = sincos(angle);
  let s = p.dir * sc.x;
  let c = sc.y;
  let i1 = (t * p.heads + h) * 2u * p.half + i;
  let i2 = i1 + p.half;
  let x1 = x[i1];
  let x2 = x[i2];
  x[i1] = x1 * c - x2 * s;
  x[i2] = x2 * c + x1 * s;
}
