// Workgroup-wide sum of a vec2f (two row statistics at once), for kernels that give one workgroup a
// whole row: each invocation folds a strided slice of the row, `row_sum` combines the WG partials and
// returns the total to every invocation. Every invocation of the workgroup must call it (barriers).
// Prepended to the kernel by rmsnorm.ts, after the `enable` lines (which must come first in WGSL).
//
// With SUBGROUPS: subgroupAdd in registers, one partial per subgroup through workgroup memory (one
// barrier instead of log2(WG); barriers are expensive on CPU adapters). Subgroup k is taken to be
// invocations [k*size, (k+1)*size), which is how every WebGPU backend lays out a 1-D workgroup.
// Every invocation then adds the partials in the same order, so all get bit-identical totals.

// Invocations per workgroup, a power of two <= 256 (WebGPU's default limit).
override WG: u32 = 256u;

// The kernel's entry point takes `ids: Ids` for the reduction. (workgroup_id stays a separate
// parameter: uniformity analysis treats a whole struct as non-uniform if one member is.)
struct Ids {
  @builtin(local_invocation_index) lid: u32,
#if SUBGROUPS
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) sg_size: u32,
#endif
}

#if SUBGROUPS
// One slot per subgroup: WG / subgroup size <= 256 / 4 (WebGPU's smallest subgroup size).
var<workgroup> partial: array<vec2f, 64>;

fn row_sum(v: vec2f, ids: Ids) -> vec2f {
  let s = subgroupAdd(v);
  if (ids.lane == 0u) {
    partial[ids.lid / ids.sg_size] = s;
  }
  workgroupBarrier();
  let n = (WG + ids.sg_size - 1u) / ids.sg_size;
  var total = vec2f(0.0);
  for (var k = 0u; k < n; k++) {
    total += partial[k];
  }
  return total;
}
#else
var<workgroup> partial: array<vec2f, 256>;

fn row_sum(v: vec2f, ids: Ids) -> vec2f {
  partial[ids.lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (ids.lid < s) {
      partial[ids.lid] += partial[ids.lid + s];
    }
    workgroupBarrier();
  }
  return partial[0];
}
#endif
