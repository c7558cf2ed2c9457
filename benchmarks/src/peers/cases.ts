/**
 * The operations every peer shares with us, at each run size, their random inputs, and our own
 * implementation of each (the kernel the library picks by default on this device).
 *
 * ```ts
 * for (const c of peerCases('smoke')) {
 *   const inputs = peerInputs(c, 1);
 *   const ours = buildOurs(gpu, c, inputs);
 * }
 * ```
 */
import { f16BitsToF32, f32ToF16Bits, type Gpu, type Tensor } from '@llara/gpu';
import {
  attentionForward,
  describeAttention,
  describeTopk,
  matmul,
  matmulVariant,
  paddedCausalMask,
  rmsnorm,
  rmsnormVariant,
  topk,
  uploadMask,
} from '@llara/kernels';
import { randomF16Bits, randomF32 } from '../random-data.ts';
import type { PeerCase, PeerCaseSpec, PeerInputs, Runnable } from './peer.ts';

/**
 * tiny: the browser test's subset (seconds on SwiftShader); smoke: `pnpm bench` on a CPU adapter
 * (LLaMA-2 projections scaled down 32x, and the 1024^3 GEMM); quick / full: LLaMA-2-7B shapes.
 */
export type PeerSize = 'tiny' | 'smoke' | 'quick' | 'full';

function specs(size: PeerSize): PeerCaseSpec[] {
  const mm = (M: number, N: number, K: number, layout: 'nt' | 'nn', what: string): PeerCaseSpec => ({
    op: 'matmul',
    M,
    N,
    K,
    layout,
    what,
  });
  if (size === 'tiny')
    return [
      mm(64, 64, 64, 'nn', 'square'),
      mm(64, 96, 64, 'nt', 'projection'),
      { op: 'attention', B: 2, T: 32, H: 4, KV: 4, D: 16 },
      { op: 'rmsnorm', T: 64, D: 64, eps: 1e-5 },
      { op: 'topk', rows: 4, cols: 4096, k: 10 },
    ];
  if (size === 'smoke')
    return [
      mm(256, 256, 256, 'nn', 'square'),
      mm(1024, 1024, 1024, 'nn', 'square'),
      // LLaMA-2-7B's projections at hidden 4096 / 32 = 128, intermediate 11008 / 32 = 344, 256 tokens.
      mm(256, 128, 128, 'nt', 'q/k/v/o projection, 7B / 32'),
      mm(256, 344, 128, 'nt', 'gate/up projection, 7B / 32'),
      mm(256, 128, 344, 'nt', 'down projection, 7B / 32'),
      { op: 'attention', B: 2, T: 32, H: 4, KV: 4, D: 16 },
      { op: 'attention', B: 1, T: 256, H: 8, KV: 8, D: 64 },
      { op: 'rmsnorm', T: 512, D: 4096, eps: 1e-5 },
      { op: 'topk', rows: 16, cols: 65536, k: 10 },
    ];
  const out: PeerCaseSpec[] = [
    mm(4096, 4096, 4096, 'nn', 'square'),
    mm(2048, 4096, 4096, 'nt', 'q/k/v/o projection'),
    mm(2048, 11008, 4096, 'nt', 'gate/up projection'),
    mm(2048, 4096, 11008, 'nt', 'down projection'),
    { op: 'attention', B: 1, T: 2048, H: 32, KV: 32, D: 128 },
    { op: 'rmsnorm', T: 2048, D: 4096, eps: 1e-5 },
    { op: 'topk', rows: 16, cols: 1_000_000, k: 10 },
  ];
  if (size === 'full')
    out.push(mm(1024, 1024, 1024, 'nn', 'square'), { op: 'attention', B: 8, T: 512, H: 32, KV: 32, D: 128 });
  return out;
}

export function peerCases(size: PeerSize): PeerCase[] {
  return specs(size).map(peerCase);
}

function peerCase(spec: PeerCaseSpec): PeerCase {
  switch (spec.op) {
    case 'matmul': {
      const shape = `M${spec.M}xN${spec.N}xK${spec.K}`;
      return {
        key: `peer|matmul|${shape}|${spec.layout}|f32`,
        spec,
        shape: `${shape} ${spec.layout} (${spec.what})`,
        dtype: 'f32',
        flops: 2 * spec.M * spec.N * spec.K,
      };
    }
    case 'attention': {
      const shape = `B${spec.B}xH${spec.H}xKV${spec.KV}xT${spec.T}xD${spec.D}`;
      return {
        key: `peer|attention|${shape}|causal|f32`,
        spec,
        shape: `${shape} causal`,
        dtype: 'f32',
        // Model flops of the causal part, as the kernel suite counts them.
        flops: 4 * spec.B * spec.H * spec.D * ((spec.T * (spec.T + 1)) / 2),
      };
    }
    case 'rmsnorm': {
      const shape = `T${spec.T}xD${spec.D}`;
      return {
        key: `peer|rmsnorm|${shape}|f32`,
        spec,
        shape,
        dtype: 'f32',
        bytes: 2 * spec.T * spec.D * 4 + spec.D * 2,
      };
    }
    case 'topk': {
      const shape = `R${spec.rows}xC${spec.cols}xk${spec.k}`;
      return {
        key: `peer|topk|${shape}|f32`,
        spec,
        shape,
        dtype: 'f32',
        bytes: spec.rows * spec.cols * 4,
      };
    }
  }
}

/** Deterministic inputs of a case (see `PeerInputs`). */
export function peerInputs(c: PeerCase, seed: number): PeerInputs {
  const s = c.spec;
  switch (s.op) {
    case 'matmul':
      return { a: randomF32(s.M * s.K, seed), b: randomF32(s.N * s.K, seed + 1) };
    case 'attention': {
      const rows = s.B * s.T;
      return {
        q: randomF32(rows * s.H * s.D, seed),
        k: randomF32(rows * s.KV * s.D, seed + 1),
        v: randomF32(rows * s.KV * s.D, seed + 2),
      };
    }
    case 'rmsnorm': {
      const bits = randomF16Bits(s.D, seed + 1);
      return { x: randomF32(s.T * s.D, seed), w: Float32Array.from(bits, f16BitsToF32) };
    }
    case 'topk':
      return { scores: randomF32(s.rows * s.cols, seed) };
  }
}

/** Our kernel for a case, with its inputs uploaded; `dispose` frees every tensor it made. */
export function buildOurs(gpu: Gpu, c: PeerCase, inputs: PeerInputs): Runnable {
  const held: Tensor[] = [];
  const t = (x: Tensor) => {
    held.push(x);
    return x;
  };
  const s = c.spec;
  let record: (rec: ReturnType<Gpu['recorder']>) => void;
  let out: Tensor;
  let describe: string;
  switch (s.op) {
    case 'matmul': {
      const transB = s.layout === 'nt';
      const a = t(gpu.tensor('f32', [s.M, s.K], inputs.a));
      const b = t(gpu.tensor('f32', transB ? [s.N, s.K] : [s.K, s.N], inputs.b));
      out = t(gpu.tensor('f32', [s.M, s.N]));
      const o = { M: s.M, N: s.N, K: s.K, transB };
      describe = matmulVariant(gpu, { ...o, bDtype: 'f32' });
      const c2 = out;
      record = (rec) => matmul(rec, a, b, c2, o);
      break;
    }
    case 'attention': {
      const rows = s.B * s.T;
      const q = t(gpu.tensor('f32', [rows, s.H * s.D], inputs.q));
      const k = t(gpu.tensor('f32', [rows, s.KV * s.D], inputs.k));
      const v = t(gpu.tensor('f32', [rows, s.KV * s.D], inputs.v));
      out = t(gpu.tensor('f32', [rows, s.H * s.D]));
      const lse = t(gpu.tensor('f32', [s.H, rows]));
      const mask = uploadMask(gpu, paddedCausalMask(s.T, new Array(s.B).fill(s.T), 'right'));
      t(mask.table);
      // f32 on both sides: the peers compute in f32.
      const o = { numHeads: s.H, numKvHeads: s.KV, headDim: s.D, precision: 'f32' as const };
      describe = `attention_forward: ${describeAttention(gpu, o)}`;
      const o2 = out;
      record = (rec) => attentionForward(rec, q, k, v, o2, lse, mask, o);
      break;
    }
    case 'rmsnorm': {
      const x = t(gpu.tensor('f32', [s.T, s.D], inputs.x));
      const w = t(gpu.tensor('f16', [s.D], Uint16Array.from(inputs.w, f32ToF16Bits)));
      out = t(gpu.tensor('f32', [s.T, s.D]));
      describe = `rmsnorm ${rmsnormVariant(gpu)} (f16 weight)`;
      const y = out;
      record = (rec) => rmsnorm(rec, x, w, y, s.eps);
      break;
    }
    case 'topk': {
      const scores = t(gpu.tensor('f32', [s.rows, s.cols], inputs.scores));
      const idx = t(gpu.tensor('i32', [s.rows, s.k]));
      out = t(gpu.tensor('f32', [s.rows, s.k]));
      describe = describeTopk(gpu, { rows: s.rows, cols: s.cols, k: s.k });
      const val = out;
      record = (rec) => topk(rec, scores, idx, val, { rows: s.rows, cols: s.cols, k: s.k });
      break;
    }
  }
  const result = out;
  return {
    describe,
    async run() {
      const rec = gpu.recorder();
      record(rec);
      rec.submit();
      await gpu.sync();
    },
    async result() {
      return Float32Array.from(await gpu.read(result));
    },
    dispose() {
      for (const x of held) x.release();
      held.length = 0;
    },
  };
}
