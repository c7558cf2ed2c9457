import { describe, expect, it } from 'vitest';
import { barChartSvg, escapeXml, lineChartSvg, niceTicks } from './loss-curve-svg.ts';
import { createMetricsLog, formatMetricsLine, metricSeries, parseMetricsLog } from './metrics-log.ts';

/** Tags must nest and close (a tiny well-formedness check; no XML parser in Node). */
function expectWellFormed(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, close, name, selfClose] = m;
    if (selfClose) continue;
    if (close) expect(stack.pop()).toBe(name);
    else stack.push(name);
  }
  expect(stack).toEqual([]);
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
}

function polyline(svg: string, name: string): [number, number][] {
  const m = new RegExp(`data-series="${name}"[^>]*points="([^"]*)"`).exec(svg);
  if (!m) throw new Error(`no series ${name}`);
  return m[1].split(' ').map((p) => p.split(',').map(Number) as [number, number]);
}

describe('metrics log', () => {
  it('writes ordered JSON lines, drops absent parts, writes NaN as null', () => {
    const lines: string[] = [];
    const log = createMetricsLog((l) => lines.push(l));
    log.write({ step: 0, loss: 5.25, bow_ebae: 0.75, bow_ebar: 0.5, ar: 4.25, lr: 0.01, tokens_per_s: 100 });
    log.write({ tokens_per_s: 90, lr: 0.01, loss: Number.NaN, step: 1, grad_norm: 2 });
    expect(lines).toEqual([
      '{"step":0,"loss":5.25,"bow_ebae":0.75,"bow_ebar":0.5,"ar":4.25,"lr":0.01,"tokens_per_s":100}\n',
      '{"step":1,"loss":null,"lr":0.01,"tokens_per_s":90,"grad_norm":2}\n',
    ]);
    expect(log.lines.length).toBe(2);
    expect(() => log.write({ step: -1, loss: 1, lr: 1, tokens_per_s: 1 })).toThrow(/non-negative integer/);
  });

  it('reads a log back, keeping the last line of a repeated step (resumed run)', () => {
    const text = [
      formatMetricsLine({ step: 0, loss: 3, lr: 1, tokens_per_s: 1 }),
      formatMetricsLine({ step: 1, loss: 2, lr: 1, tokens_per_s: 1 }),
      formatMetricsLine({ step: 1, loss: 1.5, lr: 1, tokens_per_s: 1 }),
      formatMetricsLine({ step: 2, loss: Number.NaN, lr: 1, tokens_per_s: 1 }),
    ].join('');
    const lines = parseMetricsLog(text, 'metrics.jsonl');
    expect(lines.map((l) => l.step)).toEqual([0, 1, 2]);
    expect(metricSeries(lines, 'loss')).toEqual([
      [0, 3],
      [1, 1.5],
    ]);
    expect(() => parseMetricsLog('{"step":0}\n{oops\n', 'metrics.jsonl')).toThrow(
      'metrics.jsonl line 2 is not valid JSON.',
    );
    expect(() => parseMetricsLog('{"loss":1}\n', 'm.jsonl')).toThrow('m.jsonl line 1 has no numeric "step".');
  });
});

describe('SVG charts', () => {
  it('places round ticks over the range', () => {
    expect(niceTicks(0, 10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0.13, 0.91)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 3)).toEqual([2.6, 2.8, 3, 3.2, 3.4]);
  });

  it('draws each series as a polyline mapped onto the axes, with a legend and a title', () => {
    const svg = lineChartSvg({
      title: 'loss <flag> & co',
      xLabel: 'step',
      yLabel: 'loss',
      width: 600,
      height: 400,
      series: [
        {
          name: 'loss',
          points: [
            [0, 0],
            [5, 0.5],
            [10, 1],
          ],
        },
        {
          name: 'bow_ebae',
          points: [
            [0, 1],
            [10, 0],
          ],
        },
      ],
    });
    expectWellFormed(svg);
    expect(svg).toContain(escapeXml('loss <flag> & co'));
    // Plot frame: left 64, right 600-150, top 40, bottom 400-48; ticks are exactly [0,10] x [0,1].
    expect(polyline(svg, 'loss')).toEqual([
      [64, 352],
      [257, 196],
      [450, 40],
    ]);
    expect(polyline(svg, 'bow_ebae')).toEqual([
      [64, 40],
      [450, 352],
    ]);
    expect(svg).toContain('>bow_ebae</text>');
  });

  it('supports a log y axis and refuses what it cannot draw', () => {
    const svg = lineChartSvg({
      title: 't',
      series: [
        {
          name: 's',
          points: [
            [0, 1],
            [1, 100],
          ],
        },
      ],
      logY: true,
    });
    const [[, yLow], [, yHigh]] = polyline(svg, 's');
    expect(yLow).toBe(352);
    expect(yHigh).toBe(40);
    expect(() => lineChartSvg({ title: 'empty', series: [{ name: 's', points: [] }] })).toThrow(
      'The chart "empty" has no finite points to draw.',
    );
    expect(() =>
      lineChartSvg({ title: 'neg', series: [{ name: 's', points: [[0, -1]] }], logY: true }),
    ).toThrow(/log scale/);
  });

  it('draws a grouped bar per system and metric, with heights proportional to the values', () => {
    const svg = barChartSvg({
      title: 'Cranfield',
      systems: ['BM25', 'LLaRA'],
      metrics: ['nDCG@10', 'MRR@10'],
      values: [
        [0.4, 0.5],
        [0.6, Number.NaN],
      ],
    });
    expectWellFormed(svg);
    const bars = [...svg.matchAll(/data-system="([^"]+)" data-metric="([^"]+)"[^>]*height="([^"]+)"/g)].map(
      (m) => [m[1], m[2], Number(m[3])],
    );
    expect(bars.map(([s, m]) => `${s}/${m}`)).toEqual(['BM25/nDCG@10', 'LLaRA/nDCG@10', 'BM25/MRR@10']);
    // y ticks 0..0.6, plot height 312: bar height = value / 0.6 * 312.
    expect(bars.map(([, , h]) => h)).toEqual([208, 312, 260]);
    expect(() => barChartSvg({ title: 'bad', systems: ['a'], metrics: ['m'], values: [[1, 2]] })).toThrow(
      /needs 1 x 1/,
    );
  });
});
