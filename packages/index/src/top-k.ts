/**
 * Bounded selection of the best `k` hits under the package's ranking rule (score desc, id desc),
 * as a binary min-heap whose root is the worst hit kept: O(n log k) for n pushes.
 */
import { compareHits, compareIds, type SearchHit } from './ranking.ts';

/** True when (sa, ia) ranks below (sb, ib). */
function worse(sa: number, ia: string, sb: number, ib: string): boolean {
  return sa !== sb ? sa < sb : compareIds(ia, ib) < 0;
}

/**
 * @example
 * const top = new TopK(2);
 * top.push('a', 0.1); top.push('b', 0.9); top.push('c', 0.5);
 * top.sorted(); // [{ id: 'b', score: 0.9 }, { id: 'c', score: 0.5 }]
 */
export class TopK {
  private readonly scores: number[] = [];
  private readonly ids: string[] = [];

  constructor(readonly k: number) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}.`);
  }

  get size(): number {
    return this.ids.length;
  }

  /** The score a new hit must beat (or tie with a larger id) to enter; -Infinity until full. */
  get threshold(): number {
    return this.ids.length < this.k ? Number.NEGATIVE_INFINITY : this.scores[0];
  }

  push(id: string, score: number): void {
    const n = this.ids.length;
    if (n < this.k) {
      this.scores.push(score);
      this.ids.push(id);
      this.siftUp(n);
    } else if (worse(this.scores[0], this.ids[0], score, id)) {
      this.scores[0] = score;
      this.ids[0] = id;
      this.siftDown(0);
    }
  }

  /** The kept hits, best first. */
  sorted(): SearchHit[] {
    const hits = this.ids.map((id, i) => ({ id, score: this.scores[i] }));
    return hits.sort(compareHits);
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!worse(this.scores[i], this.ids[i], this.scores[parent], this.ids[parent])) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.ids.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && worse(this.scores[l], this.ids[l], this.scores[m], this.ids[m])) m = l;
      if (r < n && worse(this.scores[r], this.ids[r], this.scores[m], this.ids[m])) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(a: number, b: number): void {
    const s = this.scores[a];
    this.scores[a] = this.scores[b];
    this.scores[b] = s;
    const id = this.ids[a];
    this.ids[a] = this.ids[b];
    this.ids[b] = id;
  }
}
