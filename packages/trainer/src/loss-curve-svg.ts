/**
 * Small dependency-free SVG charts for reports: a line chart (loss curves: several named series, axes
 * with round ticks, legend, title) and a grouped bar chart (a metrics table: systems x metrics).
 * Each returns a complete standalone `<svg>` document as a string.
 *
 * @example
 * const svg = lineChartSvg({
 *   title: 'flag pretraining on Cranfield',
 *   xLabel: 'step',
 *   series: [{ name: 'loss', points: metricSeries(lines, 'loss') }],
 * });
 * writeFileSync('loss.svg', svg);
 */

export interface LineSeries {
  name: string;
  points: readonly (readonly [number, number])[];
}

export interface LineChartOptions {
  title: string;
  series: readonly LineSeries[];
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Log-scale y axis (all values must be > 0). */
  logY?: boolean;
}

export interface BarChartOptions {
  title: string;
  /** One bar colour per system (legend entries). */
  systems: readonly string[];
  /** One cluster of bars per metric along the x axis. */
  metrics: readonly string[];
  /** values[system][metric]; NaN leaves the bar out. */
  values: readonly (readonly number[])[];
  yLabel?: string;
  width?: number;
  height?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const FONT = 'font-family="sans-serif"';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A short label for a tick or value: up to 4 significant digits, no trailing zeros. */
export function formatNumber(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

/** Round tick values covering [min, max] (1, 2, 5 x 10^k steps), about `count` of them. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max))
    throw new Error('Cannot place ticks on a non-finite range.');
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    return niceTicks(min - pad, max + pad, count);
  }
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const start = Math.floor(min / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let t = start; t < max + step * 0.999; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
  if (ticks.length === 2) ticks.splice(1, 0, Number((10 ** lo * 3).toPrecision(12)));
  return ticks;
}

interface Frame {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function header(width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="16" ${FONT}>${escapeXml(title)}</text>`,
  ];
}

function legend(names: readonly string[], x: number, y: number, out: string[]): void {
  names.forEach((name, i) => {
    const yy = y + i * 20;
    out.push(`<rect x="${x}" y="${yy - 9}" width="14" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`);
    out.push(`<text x="${x + 20}" y="${yy}" font-size="12" ${FONT}>${escapeXml(name)}</text>`);
  });
}

function yAxis(
  f: Frame,
  ticks: number[],
  toY: (v: number) => number,
  label: string | undefined,
  out: string[],
): void {
  out.push(`<line x1="${f.left}" y1="${f.top}" x2="${f.left}" y2="${f.bottom}" stroke="#000000"/>`);
  for (const t of ticks) {
    const y = toY(t).toFixed(2);
    out.push(`<line x1="${f.left}" y1="${y}" x2="${f.right}" y2="${y}" stroke="#e0e0e0"/>`);
    out.push(
      `<text x="${f.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11" ${FONT}>${formatNumber(t)}</text>`,
    );
  }
  if (label) {
    const cy = (f.top + f.bottom) / 2;
    out.push(
      `<text x="16" y="${cy}" text-anchor="middle" font-size="12" ${FONT} transform="rotate(-90 16 ${cy})">${escapeXml(label)}</text>`,
    );
  }
}

/** A line chart of one or more series (see the file comment). */
export function lineChartSvg(o: LineChartOptions): string {
  const width = o.width ?? 640;
  const height = o.height ?? 400;
  const f: Frame = { left: 64, right: width - 150, top: 40, bottom: height - 48 };
  const pts = o.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (pts.length === 0) throw new Error(`The chart "${o.title}" has no finite points to draw.`);
  if (o.logY && pts.some(([, y]) => y <= 0))
    throw new Error(`The chart "${o.title}" has values <= 0 on a log scale.`);
  const xs = pts.map(([x]) => x);
  const ys = pts.map(([, y]) => y);
  const xTicks = niceTicks(Math.min(...xs), Math.max(...xs));
  const yTicks = o.logY
    ? logTicks(Math.min(...ys), Math.max(...ys))
    : niceTicks(Math.min(...ys), Math.max(...ys));
  const [x0, x1] = [xTicks[0], xTicks[xTicks.length - 1]];
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const toX = (x: number) => f.left + ((x - x0) / (x1 - x0)) * (f.right - f.left);
  const yv = (y: number) => (o.logY ? Math.log10(y) : y);
  const toY = (y: number) => f.bottom - ((yv(y) - yv(y0)) / (yv(y1) - yv(y0))) * (f.bottom - f.top);

  const out = header(width, height, o.title);
  yAxis(f, yTicks, toY, o.yLabel, out);
  out.push(`<line x1="${f.left}" y1="${f.bottom}" x2="${f.right}" y2="${f.bottom}" stroke="#000000"/>`);
  for (const t of xTicks) {
    const x = toX(t).toFixed(2);
    out.push(`<line x1="${x}" y1="${f.bottom}" x2="${x}" y2="${f.bottom + 4}" stroke="#000000"/>`);
    out.push(
      `<text x="${x}" y="${f.bottom + 16}" text-anchor="middle" font-size="11" ${FONT}>${formatNumber(t)}</text>`,
    );
  }
  if (o.xLabel) {
    out.push(
      `<text x="${(f.left + f.right) / 2}" y="${height - 10}" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(o.xLabel)}</text>`,
    );
  }
  o.series.forEach((s, i) => {
    const coords = s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y]) => `${toX(x).toFixed(2)},${toY(y).toFixed(2)}`)
      .join(' ');
    const color = PALETTE[i % PALETTE.length];
    out.push(
      `<polyline data-series="${escapeXml(s.name)}" fill="none" stroke="${color}" stroke-width="1.5" points="${coords}"/>`,
    );
  });
  legend(
    o.series.map((s) => s.name),
    f.right + 16,
    f.top + 10,
    out,
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** A grouped bar chart: metrics along x, one bar per system in each group (see the file comment). */
export function barChartSvg(o: BarChartOptions): string {
  const width = o.width ?? 640;
  const height = o.height ?? 400;
  if (o.values.length !== o.systems.length || o.values.some((row) => row.length !== o.metrics.length)) {
    throw new Error(`The bar chart "${o.title}" needs ${o.systems.length} x ${o.metrics.length} values.`);
  }
  const f: Frame = { left: 64, right: width - 150, top: 40, bottom: height - 48 };
  const finite = o.values.flat().filter(Number.isFinite);
  if (finite.length === 0) throw new Error(`The bar chart "${o.title}" has no finite values to draw.`);
  const yTicks = niceTicks(Math.min(0, ...finite), Math.max(0, ...finite));
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const toY = (y: number) => f.bottom - ((y - y0) / (y1 - y0)) * (f.bottom - f.top);

  const out = header(width, height, o.title);
  yAxis(f, yTicks, toY, o.yLabel, out);
  const zero = toY(0).toFixed(2);
  out.push(`<line x1="${f.left}" y1="${zero}" x2="${f.right}" y2="${zero}" stroke="#000000"/>`);
  const groupW = (f.right - f.left) / o.metrics.length;
  const barW = (groupW * 0.8) / o.systems.length;
  o.metrics.forEach((metric, m) => {
    const gx = f.left + m * groupW + groupW * 0.1;
    out.push(
      `<text x="${(gx + groupW * 0.4).toFixed(2)}" y="${f.bottom + 16}" text-anchor="middle" font-size="11" ${FONT}>${escapeXml(metric)}</text>`,
    );
    o.systems.forEach((system, s) => {
      const v = o.values[s][m];
      if (!Number.isFinite(v)) return;
      const x = gx + s * barW;
      const [ya, yb] = [toY(Math.max(v, 0)), toY(Math.min(v, 0))];
      out.push(
        `<rect data-system="${escapeXml(system)}" data-metric="${escapeXml(metric)}" x="${x.toFixed(2)}" y="${ya.toFixed(2)}" width="${(barW * 0.9).toFixed(2)}" height="${(yb - ya).toFixed(2)}" fill="${PALETTE[s % PALETTE.length]}"/>`,
      );
      out.push(
        `<text x="${(x + barW * 0.45).toFixed(2)}" y="${(ya - 3).toFixed(2)}" text-anchor="middle" font-size="9" ${FONT}>${formatNumber(v)}</text>`,
      );
    });
  });
  legend(o.systems, f.right + 16, f.top + 10, out);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
