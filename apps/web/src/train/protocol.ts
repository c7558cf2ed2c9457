/**
 * Messages between the Train panel (main thread) and the training worker. The worker owns its own
 * WebGPU device, the model, the trainer and the OPFS checkpoints; the page only sends commands and
 * draws what comes back, so a training step never blocks typing or scrolling.
 */
import type { MetricsLine, PretrainRow } from '@llara/trainer';
import type { TrainSettings } from './settings.ts';

export type ToWorker =
  /** A new run (clears the saved one) or, with `resume`, the saved run from its last checkpoint. */
  | { type: 'start'; base: string; settings: TrainSettings; rows: PretrainRow[]; resume: false }
  | { type: 'start'; base: string; resume: true }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  /** Test hook: destroys the worker's GPUDevice, which is what a driver reset looks like to WebGPU. */
  | { type: 'lose-device' };

export interface AdapterFiles {
  'adapter_config.json': string;
  'adapter_model.safetensors': Uint8Array;
}

export type FromWorker =
  | { type: 'status'; text: string }
  /** The run's settings (a resumed run's come from its checkpoint) and the losses logged so far. */
  | { type: 'started'; settings: TrainSettings; rows: number; lines: MetricsLine[]; device: string }
  | { type: 'step'; line: MetricsLine; tokens: number }
  | { type: 'checkpoint'; step: number }
  | { type: 'paused'; step: number }
  | { type: 'resumed' }
  /** Training ended (all steps, or Stop): the adapter as PEFT files. */
  | { type: 'done'; step: number; stopped: boolean; adapter: AdapterFiles }
  /** Training stopped on an error: one sentence, and the step of the checkpoint still on disk. */
  | { type: 'error'; message: string; checkpoint: number | null };
