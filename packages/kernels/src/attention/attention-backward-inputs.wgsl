// Inputs of the four attention backward kernels: attention-backward-dq.wgsl and
// attention-backward-dkdv.wgsl (f32), and their f16 subgroup-matrix counterparts. Each kernel declares
// its outputs from binding 7 on. Params: attention-params.wgsl.
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
// [lse | D], each [NH, B*T] (attention-backward-stats.wgsl); the subgroup-matrix kernels also read
// [amax | c] after them, one value per kv head (attention-backward-scale.wgsl).
@group(0) @binding(5) var<storage, read> stats: array<f32>;
@group(0) @binding(6) var<storage, read> mask_table: array<i32>;
