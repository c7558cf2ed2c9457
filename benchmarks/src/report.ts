/**
 * Markdown report of one benchmark run: our rows beside the PyTorch measurements from the same machine
 * (matched by key, see rows.ts), the correctness checks and the transformers parity, and every
 * configuration that failed or was skipped. Ratio = PyTorch time / our time, so above 1 means ours is
 * faster; for end-to-end rows it is the ratio of tokens/s, which is the same thing.
 *
 * ```ts
 * const md = renderReport({ webgpu: [result], torch: [torchJson], checks: [checksJson] });
 * ```
 */
import type { CheckResult } from './check-result.ts';
import { PEER_TIMING, type PeerRow } from './peers/peer.ts';
import type { BenchMeta, BenchResult, BenchRow, Failure, Suite } from './rows.ts';

/** One PyTorch measurement as torch_bench.py / torch_search_bench.py write it. */
export interface TorchRow {
  key: string;
  op?: string;
  dtype?: string;
  ms: number;
  gflops?: number | null;
  gbps?: number | null;
  tokens_per_s?: number | null;
  queries_per_s?: number | null;
  peak_gib?: number | null;
  impl?: string;
}

export interface TorchResult {
  meta: Record<string, unknown>;
  rows: TorchRow[];
  failures: { key: string; error: string }[];
}

export interface ChecksFile {
  meta: Partial<BenchMeta>;
  checks: CheckResult[];
}

/** One piece of a report (see `reportBlocks`). */
export type ReportBlock =
  | { kind: 'heading'; level: 1 | 2; text: string }
  | { kind: 'paragraph'; text: string }
  | { kind: 'list'; items: string[] }
  | {
      kind: 'table';
      head: string[];
      rows: string[][];
      /** Which rows the table holds: a suite's, or the peer comparisons. */
      suite?: Suite;
      peers?: boolean;
    };

export interface ReportInput {
  webgpu: BenchResult[];
  torch: TorchResult[];
  checks?: ChecksFile[];
  parity?: ChecksFile[];
}

/**
 * Accepts torch_bench.py's `{meta, rows, failures}` and torch_search_bench.py's plain list of
 * `index_search_torch` rows (keyed here as `index_search|{shape}|q{queries}`).
 */
export function normalizeTorch(json: unknown, file: string): TorchResult {
  if (Array.isArray(json)) {
    const rows: TorchRow[] = [];
    for (const r of json as Record<string, unknown>[]) {
      if (r.name === 'index_search_torch' && typeof r.ms === 'number')
        rows.push({
          key: `index_search|${r.shape}|q${r.queries}`,
          op: 'index_search',
          dtype: String(r.dtype),
          ms: r.ms,
          gbps: typeof r.gbps === 'number' ? r.gbps : null,
          queries_per_s: typeof r.queries_per_s === 'number' ? r.queries_per_s : null,
        });
    }
    const first = (json as Record<string, unknown>[])[0];
    return { meta: { gpu: first?.device ?? 'unknown', source: file }, rows, failures: [] };
  }
  const o = json as Partial<TorchResult>;
  if (!o || !Array.isArray(o.rows))
    throw new Error(`${file} is not a PyTorch benchmark file (no "rows" list).`);
  return { meta: o.meta ?? {}, rows: o.rows, failures: o.failures ?? [] };
}

const num = (x: number, digits = 3) => {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1000) return x.toFixed(0);
  if (a >= 100) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(digits);
};

/** GFLOP/s or GB/s with a readable unit. */
function rate(row: { gflops?: number | null; gbps?: number | null; dispatchesPerS?: number }): string {
  if (row.gflops)
    return row.gflops >= 1000 ? `${num(row.gflops / 1000)} TFLOP/s` : `${num(row.gflops)} GFLOP/s`;
  if (row.gbps) return `${num(row.gbps)} GB/s`;
  if (row.dispatchesPerS) return `${num(row.dispatchesPerS)} dispatches/s (host)`;
  return '';
}

const pct = (f: number | null) => (f === null ? 'n/a' : `${(100 * f).toFixed(f < 0.01 ? 2 : 1)}%`);
const bytesText = (bytes: number) =>
  bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(2)} MiB`;
/** A cell's text as markdown: `|` escaped, line breaks as `<br>`. */
const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, '<br>');

/**
 * A markdown table with every column padded to its widest cell (the layout `biome format` gives
 * markdown, so generated reports can be committed as they are). Cells are plain text (with `**bold**`
 * and line breaks); `|` is escaped here.
 */
export function markdownTable(head: string[], plain: string[][]): string[] {
  const rows = plain.map((r) => r.map((c) => esc(c ?? '')));
  const widths = head.map((h, i) => Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

function torchIndex(torch: TorchResult[]): Map<string, TorchRow> {
  const map = new Map<string, TorchRow>();
  for (const t of torch) for (const r of t.rows) map.set(r.key, r);
  return map;
}

function torchFailures(torch: TorchResult[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const t of torch) for (const f of t.failures) map.set(f.key, f.error);
  return map;
}

/** "dtype: figure" for each PyTorch key of a row, and the matching ratios. */
function comparisons(
  row: BenchRow,
  index: Map<string, TorchRow>,
  failed: Map<string, string>,
  endToEnd: boolean,
): { torch: string; ratio: string } {
  if (row.torch.length === 0) return { torch: '-', ratio: '-' };
  const cells = row.torch.map((key) => {
    const t = index.get(key);
    const label = t?.dtype ?? key.split('|').pop() ?? key;
    if (!t) {
      const why = failed.get(key);
      return { torch: `${label}: ${why ? why.slice(0, 80) : 'not measured'}`, ratio: `${label}: -` };
    }
    const figure = endToEnd
      ? `${num(t.tokens_per_s ?? t.queries_per_s ?? 0)} ${t.queries_per_s ? 'queries/s' : 'tokens/s'}${t.peak_gib ? `, ${num(t.peak_gib)} GiB` : ''}`
      : `${num(t.ms)} ms${rate(t) ? `, ${rate(t)}` : ''}`;
    return { torch: `${label}: ${figure}`, ratio: `${label}: ${num(t.ms / row.ms)}x` };
  });
  return { torch: cells.map((c) => c.torch).join('\n'), ratio: cells.map((c) => c.ratio).join('\n') };
}

function checksTable(title: string, files: ChecksFile[]): ReportBlock[] {
  const all = files.flatMap((f) => f.checks);
  if (all.length === 0) return [];
  const count = (s: string) => all.filter((c) => c.status === s).length;
  return [
    { kind: 'heading', level: 2, text: title },
    {
      kind: 'paragraph',
      text: `${count('pass')} pass, ${count('fail')} fail, ${count('error')} error, ${count('skipped')} skipped.`,
    },
    {
      kind: 'table',
      head: ['check', 'status', 'max abs error', 'tolerance', 'detail'],
      rows: all.map((c) => [
        c.name,
        c.status === 'pass' ? 'pass' : `**${c.status}**`,
        c.maxAbsError === null ? '-' : c.maxAbsError.toExponential(2),
        c.tolerance,
        c.detail,
      ]),
    },
  ];
}

const SECTIONS: Record<Suite, { title: string; intro: string; head: string[]; ratio: string }> = {
  kernels: {
    title: 'Kernels',
    intro:
      'GPU time per call (median of timestamped repetitions after warm-up). Roofline: f32 FMA peak, f16 tensor-core peak (subgroup-matrix rows) or HBM bandwidth (memory-bound rows, minimal traffic).',
    head: ['kernel', 'shape', 'ours: variant', 'ms', 'rate', '% roofline'],
    ratio: 'ratio (PyTorch ms / ours)',
  },
  model: {
    title: 'End to end (random-init model, f16 weights)',
    intro:
      'Wall time per call. Memory: weights + LoRA and gradients + AdamW moments + buffer pool. Model rate: 2 x non-embedding parameters per token plus causal attention (training: x3).',
    head: ['benchmark', 'shape', 'ours tokens/s', 'ms', 'device memory', 'model rate (% roofline)'],
    ratio: 'ratio (ours / PyTorch tokens/s)',
  },
  search: {
    title: 'Search',
    intro: 'Wall time per query batch; GB/s counts reading the corpus once per batch.',
    head: ['benchmark', 'corpus', 'ours: variant', 'ms/batch', 'queries/s', 'GB/s (% HBM)'],
    ratio: 'ratio (PyTorch ms / ours)',
  },
};

function ourCells(r: BenchRow): string[] {
  if (r.suite === 'kernels')
    return [
      r.name,
      `${r.shape} ${r.dtype}`,
      r.variant,
      num(r.ms),
      rate(r),
      r.roofline ? `${pct(r.fraction)} (${r.roofline})` : '-',
    ];
  if (r.suite === 'model')
    return [
      // Rows of one name that differ only in how they run (plain vs GradCache, f16 attention) carry the
      // way at the end of the key; plain f16-weight rows end in 'f16w'.
      r.key.split('|').at(-1) === 'f16w' ? r.name : `${r.name} (${r.key.split('|').at(-1)})`,
      r.shape,
      num(r.tokensPerS ?? 0),
      num(r.ms),
      r.memory ? bytesText(r.memory.totalBytes) : '-',
      `${rate(r)} (${pct(r.fraction)})`,
    ];
  return [
    r.name,
    r.shape,
    r.variant,
    num(r.ms),
    num(r.queriesPerS ?? 0),
    `${num(r.gbps ?? 0)} (${pct(r.fraction)})`,
  ];
}

/** One section per suite; the PyTorch columns only when PyTorch results were given. */
function suiteTable(
  suite: Suite,
  rows: BenchRow[],
  torch: { index: Map<string, TorchRow>; failed: Map<string, string> } | null,
): ReportBlock[] {
  const mine = rows.filter((r) => r.suite === suite);
  if (mine.length === 0) return [];
  const sec = SECTIONS[suite];
  const head = torch ? [...sec.head, 'PyTorch', sec.ratio] : sec.head;
  const body = mine.map((r) => {
    const cells = ourCells(r);
    if (torch) {
      const c = comparisons(r, torch.index, torch.failed, suite !== 'kernels');
      cells.push(c.torch, c.ratio);
    }
    return cells;
  });
  // The model-folder rows (model-folder.bench.ts) carry their check against the PyTorch reference,
  // documents/s and load time in their notes: the table alone would hide whether the base was checked.
  const notes = mine
    .filter((r) => r.note && (r.name === 'embed_folder' || r.name === 'train_qlora'))
    .map((r) => `\`${r.key}\`: ${r.note}`);
  return [
    { kind: 'heading', level: 2, text: sec.title },
    { kind: 'paragraph', text: sec.intro },
    { kind: 'table', head, rows: body, suite },
    ...(notes.length > 0 ? [{ kind: 'list' as const, items: notes }] : []),
  ];
}

/** Our peers' names in the order they first appear. */
function peerNames(rows: PeerRow[]): string {
  return [...new Set(rows.map((r) => r.peerName))].join(', ');
}

/** The check cell: max abs error against the tolerance, bold when it failed. */
function checkCell(r: PeerRow): string {
  if (!Number.isFinite(r.check.tolerance)) return r.status === 'error' ? '**error**' : '-';
  const e = Number.isNaN(r.check.maxAbsError) ? 'NaN' : r.check.maxAbsError.toExponential(1);
  const text = `${e} / ${r.check.tolerance.toExponential(1)}`;
  return r.check.pass ? `pass (${text})` : `**fail** (${text})`;
}

/** The ratio cell: the ratio, or why there is none. */
export function peerRatioCell(r: PeerRow): string {
  if (r.ratio !== null) return `${num(r.ratio)}x`;
  return r.status === 'mismatch' ? '**mismatch: no ratio**' : `**error**: ${(r.error ?? '').slice(0, 80)}`;
}

/**
 * The peer twins: ours and each peer on the same device and inputs, checked, then timed under one
 * rule. Ratio = peer ms / ours ms (above 1: ours is faster).
 */
function peerTable(rows: PeerRow[]): ReportBlock[] {
  if (rows.length === 0) return [];
  const measured = rows.filter((r) => r.ratio !== null);
  const behind = measured.filter((r) => (r.ratio ?? 0) < 1);
  const unchecked = rows.length - measured.length;
  const goal = [
    behind.length
      ? `behind on ${behind.length} of ${measured.length} measured rows here`
      : measured.length
        ? 'met on every measured row here'
        : '',
    unchecked
      ? `${unchecked} ${unchecked === 1 ? 'row' : 'rows'} without a ratio (the results differ, or the peer failed)`
      : '',
  ].filter(Boolean);
  return [
    { kind: 'heading', level: 2, text: 'Beside the WebGPU peers' },
    {
      kind: 'paragraph',
      text: `Peers: ${peerNames(rows)}; on the same device as ours, from the same inputs, each result checked against ours before any timing (a mismatch has no ratio). Timing, identical for both sides: ${PEER_TIMING} (${rows[0].iterations} timed calls each). Ratio = peer ms / ours ms: above 1 means ours is faster. Goal: at least 1.0x each peer on every shared operation${goal.length ? `; ${goal.join('; ')}` : ''}.`,
    },
    {
      kind: 'table',
      peers: true,
      head: [
        'operation',
        'shape',
        'peer',
        "peer's ops",
        'check (max abs error / tolerance)',
        'ours',
        'ours ms',
        'peer ms',
        'ratio (peer ms / ours ms)',
      ],
      rows: rows.map((r) => [
        r.op,
        `${r.shape} ${r.dtype}`,
        r.peer,
        r.theirs,
        checkCell(r),
        r.ours,
        r.oursMs === null ? '-' : num(r.oursMs),
        r.peerMs === null ? '-' : num(r.peerMs),
        peerRatioCell(r),
      ]),
    },
  ];
}

/** The device line's facts: the same vendor the page header shows, the backend only where known. */
function deviceFacts(meta: Partial<BenchMeta>): string {
  const facts = [
    meta.vendor ? `vendor ${meta.vendor}` : '',
    meta.architecture && meta.architecture !== meta.device ? `architecture ${meta.architecture}` : '',
    meta.backend && meta.backend !== 'unknown' ? `backend ${meta.backend}` : '',
    meta.isFallbackAdapter ? 'software fallback adapter' : '',
  ].filter(Boolean);
  return facts.length ? ` (${facts.join(', ')})` : '';
}

/**
 * The report as blocks (headings, paragraphs, lists, tables of plain-text cells with `**bold**` and
 * line breaks): `renderReport` writes them as markdown, the browser bench page as HTML.
 */
export function reportBlocks(input: ReportInput): ReportBlock[] {
  const rows = input.webgpu.flatMap((w) => w.rows);
  const failures: Failure[] = input.webgpu.flatMap((w) => w.failures);
  const meta = input.webgpu[0]?.meta ?? input.checks?.[0]?.meta;
  const index = torchIndex(input.torch);
  const failed = torchFailures(input.torch);
  const blocks: ReportBlock[] = [{ kind: 'heading', level: 1, text: 'LLaRA on WebGPU: benchmark run' }];
  const items: string[] = [];
  if (meta) {
    items.push(
      `date: ${meta.date ?? '?'}`,
      `device: ${meta.device ?? '?'}${deviceFacts(meta)}; roofline peaks: ${meta.peaks ?? 'unknown device: no fractions'}`,
      `${meta.browser ? `browser: ${meta.browser}` : `node ${meta.node ?? '?'}`}; commands: ${[...new Set([...input.webgpu.map((w) => w.meta.command), ...(input.checks ?? []).map((c) => c.meta.command), ...(input.parity ?? []).map((c) => c.meta.command)])].map((c) => `\`${c}\``).join(', ')}`,
    );
    if (meta.smoke)
      items.push(
        '**smoke run**: tiny shapes, for checking that the suite works; these numbers are not performance claims.',
      );
  }
  const torchLines = input.torch.map((t) => {
    const m = t.meta;
    const facts = ['gpu', 'torch', 'transformers', 'peft'].filter((k) => m[k] !== undefined);
    return `PyTorch (same machine, same run): ${facts.map((k) => `${k} ${m[k]}`).join(', ') || 'no metadata'}`;
  });
  items.push(...new Set(torchLines));
  if (items.length) blocks.push({ kind: 'list', items });
  blocks.push(...checksTable('Correctness checks on this device', input.checks ?? []));
  blocks.push(...checksTable('Forward parity (the reference is named in each row)', input.parity ?? []));
  const torch = input.torch.length > 0 ? { index, failed } : null;
  for (const suite of ['kernels', 'model', 'search'] as const) blocks.push(...suiteTable(suite, rows, torch));
  blocks.push(...peerTable(input.webgpu.flatMap((w) => w.peers ?? [])));
  if (failures.length > 0)
    blocks.push(
      { kind: 'heading', level: 2, text: 'Not measured' },
      { kind: 'table', head: ['configuration', 'reason'], rows: failures.map((f) => [f.key, f.error]) },
    );
  return blocks;
}

function blockMarkdown(b: ReportBlock): string {
  switch (b.kind) {
    case 'heading':
      return `${'#'.repeat(b.level)} ${b.text}`;
    case 'paragraph':
      return b.text;
    case 'list':
      return b.items.map((i) => `- ${i}`).join('\n');
    case 'table':
      return markdownTable(b.head, b.rows).join('\n');
  }
}

export function renderReport(input: ReportInput): string {
  return `${reportBlocks(input).map(blockMarkdown).join('\n\n')}\n`;
}
