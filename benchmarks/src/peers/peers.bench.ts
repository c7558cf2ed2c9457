/**
 * The peer comparisons of one run: for each shared operation and shape (`peerCases`), our kernel and
 * then each peer on the same device and the same inputs, checked against each other, then timed
 * under `PEER_TIMING`. What a peer cannot run is listed as a failure ("skipped: ..."), never dropped.
 *
 * ```ts
 * const peer = await createTfjsPeer(gpu);
 * const { rows, failures } = await benchPeers(gpu, [peer], { size: 'smoke' });
 * peer.dispose();
 * ```
 */
import type { Gpu } from '@llara/gpu';
import { errorMessage, type Failure } from '../rows.ts';
import { buildOurs, type PeerSize, peerCases, peerInputs } from './cases.ts';
import { comparePeer, type Peer, type PeerRow, type Runnable } from './peer.ts';

export interface PeerBenchOptions {
  size: PeerSize;
  /** Only operations named by a prefix (matmul, attention, rmsnorm, topk) or a kernel name extending one. */
  only?: string[];
  /** Untimed calls of each side after the check (default 2). */
  warmup?: number;
  /** Timed calls of each side; the median is reported (default 5). */
  iterations?: number;
  /** Wall-clock budget; cases past it are recorded as skipped (default 300 s). */
  budgetMs?: number;
  onResult?: (r: PeerRow | Failure) => void;
}

export async function benchPeers(
  gpu: Gpu,
  peers: readonly Peer[],
  o: PeerBenchOptions,
): Promise<{ rows: PeerRow[]; failures: Failure[] }> {
  const rows: PeerRow[] = [];
  const failures: Failure[] = [];
  const deadline = performance.now() + (o.budgetMs ?? 300_000);
  const timing = { warmup: o.warmup ?? 2, iterations: o.iterations ?? 5 };
  const emit = (r: PeerRow | Failure) => {
    if ('peer' in r) rows.push(r);
    else failures.push(r);
    o.onResult?.(r);
  };
  const fail = (key: string, error: string) => emit({ suite: 'kernels', key, error });
  // A prefix of the op (`att`) or a kernel name that extends it (`attention_forward`) selects it.
  const cases = peerCases(o.size).filter(
    (c) => !o.only || o.only.some((p) => c.spec.op.startsWith(p) || p.startsWith(c.spec.op)),
  );
  let seed = 101;
  for (const c of cases) {
    if (c.spec.op === 'matmul')
      for (const peer of peers) fail(`${c.key.replace(/\|f32$/, '|f16')}|${peer.id}`, peer.f16Matmul(gpu));
    if (performance.now() > deadline) {
      for (const peer of peers) fail(`${c.key}|${peer.id}`, 'skipped: the peer comparisons ran out of time');
      continue;
    }
    const inputs = peerInputs(c, seed);
    seed += 10;
    let ours: Runnable;
    try {
      ours = buildOurs(gpu, c, inputs);
    } catch (e) {
      for (const peer of peers) fail(`${c.key}|${peer.id}`, `ours could not run: ${errorMessage(e)}`);
      continue;
    }
    try {
      for (const peer of peers) {
        const why = peer.unsupported(c);
        if (why) {
          fail(`${c.key}|${peer.id}`, why);
          continue;
        }
        let theirs: Runnable;
        try {
          theirs = await peer.build(c, inputs);
        } catch (e) {
          fail(`${c.key}|${peer.id}`, `${peer.name} could not build it: ${errorMessage(e)}`);
          continue;
        }
        try {
          emit(await comparePeer(c, ours, peer, theirs, timing));
        } finally {
          theirs.dispose();
        }
      }
    } finally {
      ours.dispose();
      gpu.pool.trim();
      await gpu.sync().catch(() => {});
    }
  }
  return { rows, failures };
}
