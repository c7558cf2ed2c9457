/**
 * Inline SVG bar charts of a benchmark run: compute-bound rows in GFLOP/s, memory-bound rows in GB/s
 * (each bar labelled with its value and, where the device's peak is known, its roofline fraction), and
 * the peer ratios with a line at 1.0x (right of it: ours is faster).
 *
 * ```ts
 * chartsEl.replaceChildren(...benchCharts(result));
 * ```
 */
import type { BenchResult } from '@llara/benchmarks/browser';

export interface Bar {
  label: string;
  value: number;
  /** Shown after the bar. */
  text: string;
  /** Drawn in the "behind" colour (peer ratios below 1). */
  behind?: boolean;
}

const SVG = 'http://www.w3.org/2000/svg';
const ROW = 18;
const LABEL_W = 330;
const BAR_W = 300;
const WIDTH = LABEL_W + BAR_W + 190;

function svgEl<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** One horizontal bar chart; `reference` draws a vertical line at that value (e.g. 1.0x). */
export function barChart(title: string, bars: readonly Bar[], reference?: number): SVGSVGElement {
  const max = Math.max(...bars.map((b) => b.value), reference ?? 0) || 1;
  const top = 24;
  const height = top + bars.length * ROW + 8;
  const svg = svgEl('svg', {
    viewBox: `0 0 ${WIDTH} ${height}`,
    width: WIDTH,
    height,
    role: 'img',
    'aria-label': title,
    class: 'bench-chart',
  });
  svg.append(svgEl('title', {}, title));
  svg.append(svgEl('text', { x: 0, y: 14, class: 'chart-title' }, title));
  bars.forEach((b, i) => {
    const y = top + i * ROW;
    const w = Math.max(1, (b.value / max) * BAR_W);
    const label = b.label.length > 52 ? `${b.label.slice(0, 51)}…` : b.label;
    svg.append(
      svgEl('text', { x: LABEL_W - 6, y: y + 12, 'text-anchor': 'end', class: 'chart-label' }, label),
    );
    svg.append(
      svgEl('rect', {
        x: LABEL_W,
        y: y + 2,
        width: w.toFixed(1),
        height: ROW - 5,
        class: b.behind ? 'chart-bar behind' : 'chart-bar',
      }),
    );
    svg.append(svgEl('text', { x: LABEL_W + w + 4, y: y + 12, class: 'chart-value' }, b.text));
  });
  if (reference !== undefined) {
    const x = LABEL_W + (reference / max) * BAR_W;
    svg.append(svgEl('line', { x1: x, x2: x, y1: top - 4, y2: height - 4, class: 'chart-reference' }));
  }
  return svg;
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toPrecision(2));
const pct = (f: number | null) =>
  f === null ? '' : ` (${(100 * f).toFixed(f < 0.01 ? 2 : 1)}% of roofline)`;

/** The charts of one run (none for an empty run). */
export function benchCharts(result: BenchResult): SVGSVGElement[] {
  const out: SVGSVGElement[] = [];
  const label = (r: BenchResult['rows'][number]) => `${r.name} ${r.shape} ${r.variant}`;
  const compute = result.rows.filter((r) => r.gflops);
  if (compute.length)
    out.push(
      barChart(
        'Compute-bound kernels: GFLOP/s (longer is faster)',
        compute.map((r) => ({
          label: label(r),
          value: r.gflops ?? 0,
          text: `${fmt(r.gflops ?? 0)} GFLOP/s${pct(r.fraction)}`,
        })),
      ),
    );
  const memory = result.rows.filter((r) => !r.gflops && r.gbps);
  if (memory.length)
    out.push(
      barChart(
        'Memory-bound kernels: GB/s of minimal traffic (longer is faster)',
        memory.map((r) => ({
          label: label(r),
          value: r.gbps ?? 0,
          text: `${fmt(r.gbps ?? 0)} GB/s${pct(r.fraction)}`,
        })),
      ),
    );
  const peers = (result.peers ?? []).filter((p) => p.ratio !== null);
  if (peers.length)
    out.push(
      barChart(
        'Beside the peers: peer ms / ours ms (right of the line: ours is faster)',
        peers.map((p) => ({
          label: `${p.op} ${p.shape} vs ${p.peer}`,
          value: p.ratio ?? 0,
          text: `${fmt(p.ratio ?? 0)}x`,
          behind: (p.ratio ?? 0) < 1,
        })),
        1,
      ),
    );
  return out;
}
