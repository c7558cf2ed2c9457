/**
 * SwiGLU, LLaMA's MLP activation: out = silu(gate) * up, and its gradients. One element per
 * invocation, dispatches past 65,535 workgroups fold into 2-D.
 *
 * Layouts: gate, up, out, dOut, dGate, dUp: f32 [T, I] row-major (any shape; only sizes must match).
 *
 * ```ts
 * swiglu(rec, gateProj, upProj, act);               // act = silu(gateProj) * upProj
 * swigluBackward(rec, gateProj, upProj, dAct, dGate, dUp);
 * ```
 */
import { grid1d, params, type Recorder, type Tensor } from '@llara/gpu';
import { ELEMENT_WG } from '../elementwise/elementwise.ts';
import { expectNoAlias, expectTensor } from '../elementwise/tensor-checks.ts';
import code from './swiglu.wgsl?raw';

function dispatch(rec: Recorder, backward: boolean, n: number, bindings: Tensor[]): void {
  const label = backward ? 'swiglu-backward' : 'swiglu';
  const [nx, ny] = grid1d(n, ELEMENT_WG);
  rec.dispatch({
    pipeline: rec.gpu.pipeline({
      code,
      label,
      defines: { BACKWARD: backward },
      constants: { WG: ELEMENT_WG },
    }),
    params: params([n, nx]),
    bindings,
    workgroups: [nx, ny],
    label,
  });
}

/** out = silu(gate) * up. `out` must not share a buffer with gate or up. */
export function swiglu(rec: Recorder, gate: Tensor, up: Tensor, out: Tensor): void {
  const n = gate.size;
  expectTensor('swiglu', 'gate', gate, 'f32');
  expectTensor('swiglu', 'up', up, 'f32', n);
  expectTensor('swiglu', 'out', out, 'f32', n);
  expectNoAlias('swiglu', ['out', out], ['gate', gate], ['up', up]);
  dispatch(rec, false, n, [gate, up, out]);
}

/** dGate = dL/dgate and dUp = dL/dup given dOut = dL/dout (both overwritten, not accumulated). */
export function swigluBackward(
  rec: Recorder,
  gate: Tensor,
  up: Tensor,
  dOut: Tensor,
  dGate: Tensor,
  dUp: Tensor,
): void {
  const n = gate.size;
  expectTensor('swigluBackward', 'gate', gate, 'f32');
  for (const [what, t] of [
    ['up', up],
    ['dOut', dOut],
    ['dGate', dGate],
    ['dUp', dUp],
  ] as const) {
    expectTensor('swigluBackward', what, t, 'f32', n);
  }
  const inputs: [string, Tensor][] = [
    ['gate', gate],
    ['up', up],
    ['dOut', dOut],
  ];
  expectNoAlias('swigluBackward', ['dGate', dGate], ...inputs, ['dUp', dUp]);
  expectNoAlias('swigluBackward', ['dUp', dUp], ...inputs);
  dispatch(rec, true, n, [gate, up, dOut, dGate, dUp]);
}
