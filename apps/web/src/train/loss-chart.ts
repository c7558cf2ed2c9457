/** The Train panel's loss curve: total and its parts (bow EBAE, bow EBAR, AR) per optimizer step. */
import { lineChartSvg, type MetricsLine, metricSeries } from '@llara/trainer';

const SERIES: [key: string, name: string][] = [
  ['loss', 'total'],
  ['bow_ebae', 'EBAE (bow)'],
  ['bow_ebar', 'EBAR (bow)'],
  ['ar', 'AR'],
];

/** An SVG line chart of the losses so far; empty string before the first step. */
export function lossChartSvg(lines: readonly MetricsLine[]): string {
  const series = SERIES.map(([key, name]) => ({ name, points: metricSeries(lines, key) })).filter(
    (s) => s.points.length > 0,
  );
  if (series.length === 0) return '';
  return lineChartSvg({
    title: 'LLaRA pretext training',
    xLabel: 'optimizer step',
    yLabel: 'loss',
    series,
    width: 640,
    height: 300,
  });
}
