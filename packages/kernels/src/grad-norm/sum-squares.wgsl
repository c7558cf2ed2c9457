// Sum of squares, two passes without float atomics (deterministic: a fixed summation order).
//   partial: G workgroups stride over x f32 [n]; workgroup w writes partials[w] = sum of its x^2,
//            or, when G == 1 (`direct`), adds it to acc[0] itself.
//   FINISH:  one workgroup sums partials f32 [G] and adds the total to acc[0].
// Subgroup reductions are not used: each invocation sums >= 16 elements before the workgroup tree,
// so the tree is a small share of a memory-bound kernel, and a shared-memory tree keeps the summation
// order (and the result) identical on every device.

struct Params {
  n: u32,
  groups: u32,
  direct: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
#if FINISH
@group(0) @binding(2) var<storage, read_write> acc: array<f32>;
#else
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<storage, read_write> acc: array<f32>;
#endif

override WG: u32 = 256;
var<workgroup> sh: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  // Four independent accumulators: more loads in flight and a shorter rounding chain per sum.
  var s = vec4f(0.0);
  let stride = p.groups * WG;
  var i = wid.x * WG + lid;
  for (; i + 3u * stride < p.n; i += 4u * stride) {
#if FINISH
    s += vec4f(x[i], x[i + stride], x[i + 2u * stride], x[i + 3u * stride]);
#else
    let a = vec4f(x[i], x[i + stride], x[i + 2u * stride], x[i + 3u * stride]);
    s += a * a;
#endif
  }
  for (; i < p.n; i += stride) {
#if FINISH
    s.x += x[i];
#else
    s.x += x[i] * x[i];
#endif
  }
  sh[lid] = (s.x + s.y) + (s.z + s.w);
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) {
      sh[lid] += sh[lid + h];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
#if FINISH
    acc[0] += sh[0];
#else
    if (p.direct != 0u) {
      acc[0] += sh[0];
    } else {
      partials[wid.x] = sh[0];
    }
#endif
  }
}
