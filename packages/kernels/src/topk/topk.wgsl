// Top-k per row, k <= 1000, in one workgroup per (row, segment) (pass 1) and, when a row has several
// segments, one workgroup per row merging their lists (MERGE).
//
// Layouts (row-major, last dimension contiguous):
//   scores   f32 [Q, N]
//   lists    vec2u [rowsInBlock, S, k]  (orderKey, column) per segment, best first, empty = (0, ~0u)
//   outIndex i32 [Q, k], outScore f32 [Q, k]  (missing entries: -1 / -Inf)
//
// Order: a total order on (key, column): higher key first, then lower column. orderKey maps f32 to u32
// preserving order, with -0 == +0, every NaN to 1 (after -Inf) and 0 reserved for "empty". Since
// columns are unique the order is strict, so results do not depend on scheduling.
//
// Each workgroup streams its elements in rounds of ROUND. An element is a candidate when it comes
// before the current k-th best (kept[k-1]); candidates are appended to `cand` (workgroup atomics, or
// one atomic per subgroup with SUBGROUPS). When `cand` may not hold another round it is flushed: bitonic
// sort, then merged with `kept` by rank (rank of an element = its position in its own sorted list plus
// the number of elements of the other list before it, found by binary search). Workgroup memory:
// 2*KMAX + 2*CAND u32 + 2 = 16,200 bytes, within WebGPU's default 16 KiB.
#if SUBGROUPS
enable subgroups;
#endif

struct Params {
  rows: u32,       // rows in this block
  cols: u32,       // N
  k: u32,
  segs: u32,       // S: segments per row (pass 1), lists per row (MERGE)
  segLen: u32,     // pass 1: columns per segment
  isFinal: u32,    // pass 1 writes outIndex/outScore itself (S == 1)
  nx: u32,         // workgroups along x (grid1d fold)
  rowOffset: u32,  // first row of this block in scores / outIndex / outScore
  negInf: f32,     // -Infinity (WGSL has no literal for it and rejects it in constant expressions)
}

@group(0) @binding(0) var<uniform> p: Params;
#if MERGE
@group(0) @binding(1) var<storage, read> lists: array<vec2u>;
@group(0) @binding(2) var<storage, read> scores: array<f32>;
#else
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> lists: array<vec2u>;
#endif
@group(0) @binding(3) var<storage, read_write> outIndex: array<i32>;
@group(0) @binding(4) var<storage, read_write> outScore: array<f32>;

const WG = 256u;
const KMAX = 1000u;
const CAND = 1024u;
const ROUND = 512u;
const PER = 8u; // ceil((KMAX + CAND) / WG): merge elements per invocation
const EMPTY = 0xffffffffu;

var<workgroup> keptKey: array<u32, KMAX>;
var<workgroup> keptIdx: array<u32, KMAX>;
var<workgroup> candKey: array<u32, CAND>;
var<workgroup> candIdx: array<u32, CAND>;
var<workgroup> candCount: atomic<u32>;
var<workgroup> candCountCopy: u32;

fn ranksBefore(ak: u32, ai: u32, bk: u32, bi: u32) -> bool {
  return ak > bk || (ak == bk && ai < bi);
}

fn orderKey(x: f32) -> u32 {
  var b = bitcast<u32>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) {
    return 1u;
  }
  if (b == 0x80000000u) {
    b = 0u;
  }
  if ((b & 0x80000000u) != 0u) {
    return ~b;
  }
  return b | 0x80000000u;
}

// Number of cand[0..n) (sorted) that come before (key, idx).
fn candBefore(n: u32, key: u32, idx: u32) -> u32 {
  var lo = 0u;
  var hi = n;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (ranksBefore(candKey[mid], candIdx[mid], key, idx)) {
      lo = mid + 1u;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// Number of kept[0..n) (sorted) that come before (key, idx).
fn keptBefore(n: u32, key: u32, idx: u32) -> u32 {
  var lo = 0u;
  var hi = n;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (ranksBefore(keptKey[mid], keptIdx[mid], key, idx)) {
      lo = mid + 1u;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// Appends (key, idx) to cand when `take`. Called by every invocation (uniform control flow).
fn offer(take: bool, key: u32, idx: u32) {
#if SUBGROUPS
  let one = select(0u, 1u, take);
  let total = subgroupAdd(one);
  let mine = subgroupExclusiveAdd(one);
  var base = 0u;
  if (subgroupElect() && total > 0u) {
    base = atomicAdd(&candCount, total);
  }
  base = subgroupBroadcastFirst(base);
  if (take) {
    candKey[base + mine] = key;
    candIdx[base + mine] = idx;
  }
#else
  if (take) {
    let s = atomicAdd(&candCount, 1u);
    candKey[s] = key;
    candIdx[s] = idx;
  }
#endif
}

// Sorts cand[0..c) and merges it into kept[0..kept); returns the new kept count (<= k).
fn flush(c: u32, kept: u32, lid: u32) -> u32 {
  var size = 1u;
  while (size < c) {
    size <<= 1u;
  }
  for (var t = c + lid; t < size; t += WG) {
    candKey[t] = 0u;
    candIdx[t] = EMPTY;
  }
  workgroupBarrier();
  for (var blk = 2u; blk <= size; blk <<= 1u) {
    for (var stride = blk >> 1u; stride > 0u; stride >>= 1u) {
      for (var t = lid; t < size / 2u; t += WG) {
        let lo = (t / stride) * 2u * stride + t % stride;
        let hi = lo + stride;
        let ka = candKey[lo];
        let ia = candIdx[lo];
        let kb = candKey[hi];
        let ib = candIdx[hi];
        // Ascending blocks put the earlier-ranked element first, descending ones last.
        if (ranksBefore(kb, ib, ka, ia) == ((lo & blk) == 0u)) {
          candKey[lo] = kb;
          candIdx[lo] = ib;
          candKey[hi] = ka;
          candIdx[hi] = ia;
        }
      }
      workgroupBarrier();
    }
  }
  let total = kept + c;
  var nk: array<u32, PER>;
  var ni: array<u32, PER>;
  var nr: array<u32, PER>;
  for (var e = 0u; e < PER; e++) {
    let t = lid + e * WG;
    nr[e] = EMPTY;
    if (t < kept) {
      nk[e] = keptKey[t];
      ni[e] = keptIdx[t];
      nr[e] = t + candBefore(c, nk[e], ni[e]);
    } else if (t < total) {
      let j = t - kept;
      nk[e] = candKey[j];
      ni[e] = candIdx[j];
      nr[e] = j + keptBefore(kept, nk[e], ni[e]);
    }
  }
  workgroupBarrier();
  for (var e = 0u; e < PER; e++) {
    if (nr[e] < p.k) {
      keptKey[nr[e]] = nk[e];
      keptIdx[nr[e]] = ni[e];
    }
  }
  if (lid == 0u) {
    atomicStore(&candCount, 0u);
  }
  workgroupBarrier();
  return min(p.k, total);
}

fn writeFinal(row: u32, kept: u32, lid: u32) {
  let r = p.rowOffset + row;
  for (var j = lid; j < p.k; j += WG) {
    let o = r * p.k + j;
    if (j < kept) {
      let col = keptIdx[j];
      outIndex[o] = i32(col);
      outScore[o] = scores[r * p.cols + col];
    } else {
      outIndex[o] = -1;
      outScore[o] = p.negInf;
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let flat = wid.x + wid.y * p.nx;
#if MERGE
  if (flat >= p.rows) {
    return;
  }
  let row = flat;
  let start = row * p.segs * p.k;
  let end = start + p.segs * p.k;
#else
  if (flat >= p.rows * p.segs) {
    return;
  }
  let row = flat / p.segs;
  let seg = flat % p.segs;
  let start = seg * p.segLen;
  let end = min(p.cols, start + p.segLen);
  let rowBase = (p.rowOffset + row) * p.cols;
#endif
  if (lid == 0u) {
    atomicStore(&candCount, 0u);
  }
  workgroupBarrier();
  var kept = 0u;
  // The k-th kept element; "empty" (before nothing real) until k are kept.
  var thrKey = 0u;
  var thrIdx = EMPTY;
  for (var b0 = start; b0 < end; b0 += ROUND) {
    for (var e = 0u; e < ROUND / WG; e++) {
      let j = b0 + e * WG + lid;
      var key = 0u;
      var idx = EMPTY;
      if (j < end) {
#if MERGE
        let pair = lists[j];
        key = pair.x;
        idx = pair.y;
#else
        key = orderKey(scores[rowBase + j]);
        idx = j;
#endif
      }
      offer(idx != EMPTY && ranksBefore(key, idx, thrKey, thrIdx), key, idx);
    }
    workgroupBarrier();
    if (lid == 0u) {
      candCountCopy = atomicLoad(&candCount);
    }
    let c = workgroupUniformLoad(&candCountCopy);
    if (c > CAND - ROUND) {
      kept = flush(c, kept, lid);
      if (kept == p.k) {
        thrKey = keptKey[p.k - 1u];
        thrIdx = keptIdx[p.k - 1u];
      }
    }
  }
  workgroupBarrier();
  if (lid == 0u) {
    candCountCopy = atomicLoad(&candCount);
  }
  let c = workgroupUniformLoad(&candCountCopy);
  if (c > 0u) {
    kept = flush(c, kept, lid);
  }
#if MERGE
  writeFinal(row, kept, lid);
#else
  if (p.isFinal != 0u) {
    writeFinal(row, kept, lid);
  } else {
    let o = (row * p.segs + seg) * p.k;
    for (var j = lid; j < p.k; j += WG) {
      if (j < kept) {
        lists[o + j] = vec2u(keptKey[j], keptIdx[j]);
      } else {
        lists[o + j] = vec2u(0u, EMPTY);
      }
    }
  }
#endif
}
