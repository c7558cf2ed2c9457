/**
 * Training metrics as JSON lines, one per optimizer step:
 * `{"step":0,"loss":5.01,"bow_ebae":0.73,"bow_ebar":0.75,"ar":4.27,"lr":0.01,"tokens_per_s":812}`.
 * `step` is 0-based; the loss parts a recipe lacks are left out; extra numeric fields (grad_norm,
 * epoch, ...) pass through. Non-finite numbers are written as null (JSON has no NaN). The sink is a
 * function so the same code logs to a file in Node and to memory or the console in a browser.
 *
 * @example
 * const log = createMetricsLog((line) => appendFileSync('metrics.jsonl', line));
 * log.write({ step: 0, loss: 5.01, lr: 1e-2, tokens_per_s: 812 });
 */

export interface MetricsLine {
  step: number;
  loss: number;
  bow_ebae?: number;
  bow_ebar?: number;
  ar?: number;
  lr: number;
  tokens_per_s: number;
  [extra: string]: number | undefined;
}

const ORDER = ['step', 'loss', 'bow_ebae', 'bow_ebar', 'ar', 'lr', 'tokens_per_s'];

/** One metrics line, keys in a fixed order, ending in a newline. */
export function formatMetricsLine(m: MetricsLine): string {
  const keys = [
    ...ORDER.filter((k) => m[k] !== undefined),
    ...Object.keys(m).filter((k) => !ORDER.includes(k)),
  ];
  const obj: Record<string, number | null> = {};
  for (const k of keys) {
    const v = m[k];
    if (v === undefined) continue;
    obj[k] = Number.isFinite(v) ? v : null;
  }
  return `${JSON.stringify(obj)}\n`;
}

export interface MetricsLog {
  write(m: MetricsLine): void;
  /** Every line written so far. */
  readonly lines: readonly MetricsLine[];
}

/** A metrics log that hands each formatted line to `sink` and keeps the lines for charts. */
export function createMetricsLog(sink: (line: string) => void = () => {}): MetricsLog {
  const lines: MetricsLine[] = [];
  return {
    write(m) {
      if (!Number.isInteger(m.step) || m.step < 0)
        throw new Error(`Metrics step must be a non-negative integer, got ${m.step}.`);
      lines.push({ ...m });
      sink(formatMetricsLine(m));
    },
    lines,
  };
}

/**
 * Reads a metrics JSONL file back (nulls become NaN). A resumed run appends to the same file, so a
 * step that appears twice keeps its last line.
 */
export function parseMetricsLog(text: string, fileName = 'metrics log'): MetricsLine[] {
  const byStep = new Map<number, MetricsLine>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line.length === 0) return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      throw new Error(`${fileName} line ${i + 1} is not valid JSON.`);
    }
    if (typeof obj !== 'object' || obj === null || typeof (obj as { step?: unknown }).step !== 'number') {
      throw new Error(`${fileName} line ${i + 1} has no numeric "step".`);
    }
    const m: Record<string, number> = {};
    for (const [k, v] of Object.entries(obj)) {
      if (v === null) m[k] = Number.NaN;
      else if (typeof v === 'number') m[k] = v;
      else throw new Error(`${fileName} line ${i + 1} has a non-numeric "${k}".`);
    }
    byStep.set(m.step, m as MetricsLine);
  });
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** The `[step, value]` points of one metric, skipping lines without it or with NaN. */
export function metricSeries(lines: readonly MetricsLine[], key: string): [number, number][] {
  const out: [number, number][] = [];
  for (const m of lines) {
    const v = m[key];
    if (v !== undefined && Number.isFinite(v)) out.push([m.step, v]);
  }
  return out;
}
