/**
 * The training worker: its own WebGPU device, the bundled model, the `Pretrainer` (the very step code
 * `llara pretrain` runs in Node), and checkpoints in the Origin Private File System. Commands arrive as
 * `ToWorker` messages and are handled between GPU awaits, so Pause and Stop take effect after the step
 * in flight; everything it reports is a `FromWorker` message.
 */
import { type Gpu, requestBrowserGpu } from '@llara/gpu';
import { initLoraWeights, LoraGpu, memoryFiles, readAdapter, serializeAdapter } from '@llara/llama';
import {
  getRecipe,
  type MetricsLine,
  Pretrainer,
  type PretrainRow,
  pretrainRunConfig,
  restorePretrain,
  snapshotPretrain,
} from '@llara/trainer';
import { firstLine, workerScope } from '../worker-rpc.ts';
import { type BundledModel, loadBundledModel } from './bundled-model.ts';
import { OpfsCheckpoints } from './opfs-checkpoints.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import { checkSettings, loraConfig, pretrainConfig, type TrainSettings } from './settings.ts';

const scope = workerScope<ToWorker, FromWorker>();
const post = scope.post;

const control = {
  pause: false,
  stop: false,
  running: false,
  wake: null as (() => void) | null,
  /** Set when the device is lost, also while paused (no GPU call would notice then). */
  lost: null as Error | null,
};
let gpu: Gpu | null = null;

function message(e: unknown): string {
  return firstLine(e, 'Training failed.');
}

async function device(): Promise<Gpu> {
  if (gpu && !gpu.isLost) return gpu;
  const g = await requestBrowserGpu({ label: 'llara-train' });
  control.lost = null;
  g.onLost((e) => {
    control.lost = e;
    control.wake?.();
    control.wake = null;
  });
  gpu = g;
  return g;
}

async function train(cmd: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  const store = await OpfsCheckpoints.open();
  let settings: TrainSettings;
  let rows: PretrainRow[];
  const saved = cmd.resume ? await store.latest() : null;
  if (cmd.resume) {
    const run = await store.run();
    if (!run || !saved) throw new Error('There is no saved training run to continue.');
    ({ settings, rows } = run);
  } else {
    settings = checkSettings(cmd.settings);
    rows = cmd.rows;
  }
  const g = await device();
  post({ type: 'status', text: 'Loading stories260K in the worker…' });
  const recipe = getRecipe(settings.recipe);
  let loaded: BundledModel | null = null;
  let trainer: Pretrainer | null = null;
  let checkpoint = saved?.step ?? null;
  try {
    loaded = await loadBundledModel(g, cmd.base, recipe);
    const { model, config: modelConfig, tokenizer } = loaded;
    const weights = saved
      ? await readAdapter(memoryFiles(toBytes(saved.snapshot.files), 'the saved checkpoint'), modelConfig, {
          vocabSize: model.shape.vocabSize,
        })
      : initLoraWeights(loraConfig(settings, 'stories260K'), modelConfig, settings.seed);
    model.lora = LoraGpu.upload(g, model.shape, weights);
    const config = pretrainConfig(settings, loaded.baseVocab);
    const runConfig = pretrainRunConfig(config, rows.length);
    trainer = new Pretrainer(model, tokenizer, rows, config);
    const lines: MetricsLine[] = saved ? saved.lines : [];
    if (saved) restorePretrain(trainer, saved.snapshot, runConfig, 'the saved checkpoint');
    else await store.startRun({ settings, rows });
    post({
      type: 'started',
      settings,
      rows: rows.length,
      lines,
      device: g.caps.adapter.description || g.caps.adapter.device || 'WebGPU',
    });

    const t = trainer;
    const save = async () => {
      if (checkpoint === t.step) return;
      await store.save(await snapshotPretrain(t, runConfig), lines);
      checkpoint = t.step;
      post({ type: 'checkpoint', step: t.step });
    };
    let stopped = false;
    while (t.step < settings.steps) {
      if (control.lost) throw control.lost;
      if (control.stop) {
        stopped = true;
        await save();
        break;
      }
      if (control.pause) {
        await save();
        post({ type: 'paused', step: t.step });
        await new Promise<void>((wake) => {
          control.wake = wake;
        });
        if (control.lost) throw control.lost;
        post({ type: 'resumed' });
        continue;
      }
      const line = await t.trainStep();
      lines.push(line);
      post({ type: 'step', line, tokens: Math.round(line.tokens_per_s) });
      if (t.step % settings.saveEvery === 0 || t.step === settings.steps) await save();
    }
    const weightsOut = await model.lora.toWeights();
    const { configJson, safetensors } = serializeAdapter(weightsOut);
    post(
      {
        type: 'done',
        step: t.step,
        stopped,
        adapter: { 'adapter_config.json': configJson, 'adapter_model.safetensors': safetensors },
      },
      [safetensors.buffer],
    );
  } catch (e) {
    post({ type: 'error', message: message(e), checkpoint });
  } finally {
    trainer?.destroy();
    loaded?.model.destroy();
  }
}

function toBytes(files: Record<string, Uint8Array | string>): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(files))
    out[k] = typeof v === 'string' ? new TextEncoder().encode(v) : v;
  return out;
}

scope.listen((cmd) => {
  switch (cmd.type) {
    case 'start':
      if (control.running) return;
      control.running = true;
      control.pause = false;
      control.stop = false;
      train(cmd)
        .catch((err) => post({ type: 'error', message: message(err), checkpoint: null }))
        .finally(() => {
          control.running = false;
        });
      return;
    case 'pause':
      control.pause = true;
      return;
    case 'resume':
      control.pause = false;
      control.wake?.();
      control.wake = null;
      return;
    case 'stop':
      control.stop = true;
      control.pause = false;
      control.wake?.();
      control.wake = null;
      return;
    case 'lose-device':
      gpu?.device.destroy();
      return;
  }
});
