// Workgroup-wide reductions for kernels that give one workgroup a whole row (a vocabulary of up to
// 32016 logits, an embedding of 4096): each invocation folds a strided slice of the row, then these
// combine the 256 partial values. Prepended to a kernel by `withRowReduce` (row-reduce.ts), so the
// `enable` line comes first. The kernel's entry point takes `ids: Ids` and calls `reduce_init(ids)`
// before any reduction; every reduction must be reached by the whole workgroup (it has barriers). Take
// `@builtin(workgroup_id)` as a separate parameter: the uniformity analysis treats a struct holding a
// non-uniform member as non-uniform as a whole, so a row index read from `ids` could not guard a barrier.
//
// With SUBGROUPS, a subgroup reduces in registers and one value per subgroup goes through workgroup
// memory; subgroup k is taken to be invocations [k*size, (k+1)*size), as every WebGPU backend lays
// out a 1-D workgroup. Without it, a shared-memory tree.
//
// NaN handling: WGSL's max() may return either operand when one is NaN (and subgroupMax is no
// better), which would hide a NaN logit from the loss. Maxima here propagate NaN explicitly, using a
// bit test the compiler cannot assume away.
#if SUBGROUPS
enable subgroups;
#endif

const WG: u32 = 256u;
// The most negative finite f32: the identity of max (-Inf cannot be written as a WGSL constant).
const F32_LOWEST: f32 = -0x1.fffffep+127f;

struct Ids {
  @builtin(local_invocation_index) lid: u32,
#if SUBGROUPS
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sg_size: u32,
#endif
}

var<workgroup> red: array<f32, WG>;
var<private> rr_lid: u32;
#if SUBGROUPS
var<private> rr_lane: u32;
var<private> rr_sg: u32;
#endif
// Read at run time so that no constant expression evaluates to NaN (a shader-creation error).
var<private> nan_bits: u32 = 0x7fc00000u;

fn reduce_init(ids: Ids) {
  rr_lid = ids.lid;
#if SUBGROUPS
  rr_lane = ids.lane;
  rr_sg = ids.sg_size;
#endif
}

fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn nan_f32() -> f32 {
  return bitcast<f32>(nan_bits);
}

/** max(a, b), or NaN when either is NaN. */
fn max_nan(a: f32, b: f32) -> f32 {
  return select(max(a, b), select(b, a, is_nan(a)), is_nan(a) || is_nan(b));
}

#if SUBGROUPS
fn sg_max_nan(v: f32) -> f32 {
  let m = subgroupMax(v);
  let any_nan = subgroupAny(is_nan(v));
  return select(m, nan_f32(), any_nan);
}

/** Sum of `v` over the workgroup, returned to every invocation. */
fn wg_sum(v: f32) -> f32 {
  let s = subgroupAdd(v);
  if (rr_lane == 0u) {
    red[rr_lid / rr_sg] = s;
  }
  workgroupBarrier();
  // Every subgroup folds the per-subgroup partials itself, so all invocations get the total.
  let n = WG / rr_sg;
  var acc = 0.0;
  for (var k = 0u; k < n; k += rr_sg) {
    let j = k + rr_lane;
    if (j < n) {
      acc += red[j];
    }
  }
  let total = subgroupAdd(acc);
  workgroupBarrier();
  return total;
}

/** Maximum of `v` over the workgroup (NaN if any is NaN), returned to every invocation. */
fn wg_max(v: f32) -> f32 {
  let s = sg_max_nan(v);
  if (rr_lane == 0u) {
    red[rr_lid / rr_sg] = s;
  }
  workgroupBarrier();
  let n = WG / rr_sg;
  var acc = red[0];
  for (var k = 0u; k < n; k += rr_sg) {
    let j = k + rr_lane;
    if (j < n) {
      acc = max_nan(acc, red[j]);
    }
  }
  let total = sg_max_nan(acc);
  workgroupBarrier();
  return total;
}
#else
/** Sum of `v` over the workgroup, returned to every invocation. */
fn wg_sum(v: f32) -> f32 {
  red[rr_lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (rr_lid < s) {
      red[rr_lid] += red[rr_lid + s];
    }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}

/** Maximum of `v` over the workgroup (NaN if any is NaN), returned to every invocation. */
fn wg_max(v: f32) -> f32 {
  red[rr_lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (rr_lid < s) {
      red[rr_lid] = max_nan(red[rr_lid], red[rr_lid + s]);
    }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}
#endif
