// Mask access shared by the attention kernels (appended to each; the kernel declares
// `mask_table: array<i32>`, see gpu-mask.ts). Slots are positions 0..T-1 within one sequence.

struct SeqMask {
  // Valid slots [vs, ve): padding lies outside.
  vs: u32,
  ve: u32,
  // LLaRA block rule: rows in [b0, b1) do not see columns in [a0, a1).
  a0: u32,
  a1: u32,
  b0: u32,
  b1: u32,
}

fn seq_mask(b: u32) -> SeqMask {
  let o = 6u * b;
  return SeqMask(
    u32(mask_table[o]),
    u32(mask_table[o + 1u]),
    u32(mask_table[o + 2u]),
    u32(mask_table[o + 3u]),
    u32(mask_table[o + 4u]),
    u32(mask_table[o + 5u]),
  );
}

// Whether valid query slot i sees valid key slot j (validity is checked by the caller's loop bounds).
fn sees(m: SeqMask, causal: bool, i: u32, j: u32) -> bool {
  return (!causal || j <= i) && !(i >= m.b0 && i < m.b1 && j >= m.a0 && j < m.a1);
}

// Below this, a score is "masked" (finite, so no Inf arithmetic is needed anywhere).
const NEG: f32 = -3.0e38;
