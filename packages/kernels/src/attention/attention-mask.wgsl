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

// The keys a tile of query rows [i0, i0 + rows) may see: its valid rows [r0, r1) and keys [m.vs, k_end),
// so tiles past the causal diagonal or in the padding are never loaded; rows_in_b: every valid row is
// in block B, so key tiles inside block A are invisible to all of them (see skips_keys).
struct QueryTile {
  r0: u32,
  r1: u32,
  k_end: u32,
  rows_in_b: bool,
}

fn query_tile(m: SeqMask, causal: bool, i0: u32, rows: u32) -> QueryTile {
  let r0 = max(i0, m.vs);
  let r1 = min(i0 + rows, m.ve);
  var k_end = m.ve;
  if (causal) {
    k_end = min(k_end, r1);
  }
  if (r1 <= r0) {
    k_end = m.vs;
  }
  return QueryTile(r0, r1, k_end, r0 >= m.b0 && r1 <= m.b1);
}

// Whether the key tile [t0, t1) is invisible to every row of the query tile (block rule).
fn skips_keys(qt: QueryTile, m: SeqMask, t0: u32, t1: u32) -> bool {
  return qt.rows_in_b && t0 >= m.a0 && t1 <= m.a1;
}

// Below this, a score is "masked" (finite, so no Inf arithmetic is needed anywhere).
const NEG: f32 = -3.0e38;
