// Inverted dropout with a counter-based hash: element i is kept when
//   hash(seed, offset + i) >= threshold      (threshold = floor(p * 2^32), computed on the CPU)
// and becomes x[i] * scale (scale = f32(1 / (1 - p))); dropped elements become 0.
// The mask depends only on (seed, offset + i), so backward is the same call on dy.
// x, y: f32 [n], contiguous, distinct buffers. Keep `hash` identical to dropout.ref.ts.

struct Params {
  n: u32,
  nx: u32,            // workgroups along x (grid1d fold)
  seedMix: u32,       // pcg(seed), hoisted to the CPU
  offset: u32,
  threshold: u32,
  dropAll: u32,       // p == 1
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

override WG: u32 = 256;

// PCG-RXS-M-XS 32-bit output permutation (Jarzynski & Olano, "Hash Functions for GPU Rendering").
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * p.nx) * WG + lid;
  if (i >= p.n) {
    return;
  }
  let h = pcg(pcg(p.offset + i) ^ p.seedMix);
  let keep = h >= p.threshold && p.dropAll == 0u;
  y[i] = select(0.0, x[i] * p.scale, keep);
}
