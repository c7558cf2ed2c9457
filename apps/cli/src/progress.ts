/**
 * Progress bars on stderr (cli-progress) with rate and ETA. When stderr is not a terminal (CI, logs)
 * they print a plain line at most every few seconds instead of redrawing.
 */
import type { Gpu } from '@llara/gpu';
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, extra?: Record<string, string | number>): void;
  stop(): void;
}

export function progress(label: string, total: number, unit = 'items'): Progress {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted}{extra}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    const start = Date.now();
    bar.start(total, 0, { rate: '0', extra: '' });
    return {
      update(done, extra) {
        const s = (Date.now() - start) / 1000;
        const rate = s > 0 ? (done / s).toFixed(1) : '0';
        const text = extra
          ? ` | ${Object.entries(extra)
              .map(([k, v]) => `${k} ${v}`)
              .join(' ')}`
          : '';
        bar.update(done, { rate, extra: text });
      },
      stop() {
        bar.stop();
      },
    };
  }
  const start = Date.now();
  let last = 0;
  return {
    update(done, extra) {
      const now = Date.now();
      if (now - last < 5000 && done < total) return;
      last = now;
      const s = (now - start) / 1000;
      const rate = s > 0 ? done / s : 0;
      const eta = rate > 0 ? (total - done) / rate : Number.NaN;
      const text = extra
        ? ` ${Object.entries(extra)
            .map(([k, v]) => `${k} ${v}`)
            .join(' ')}`
        : '';
      process.stderr.write(
        `${label}: ${done}/${total} ${unit} (${rate.toFixed(1)}/s, ETA ${Number.isFinite(eta) ? formatSeconds(eta) : '?'})${text}\n`,
      );
    },
    stop() {},
  };
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** GPU time per kernel label since `gpu.startProfiling()`, to stderr (LLARA_PROFILE=1). */
export async function printProfile(gpu: Gpu, top = 25): Promise<void> {
  const prof = await gpu.stopProfiling();
  const total = [...prof.values()].reduce((s, e) => s + e.ms, 0);
  process.stderr.write(`GPU time by kernel (total ${total.toFixed(0)} ms):\n`);
  for (const [label, e] of [...prof].slice(0, top)) {
    process.stderr.write(
      `  ${label.padEnd(40)} ${e.ms.toFixed(1).padStart(9)} ms  ${String(e.calls).padStart(6)} calls  ${((100 * e.ms) / total).toFixed(1)}%\n`,
    );
  }
}
