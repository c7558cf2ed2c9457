/**
 * The page's loader with "base weights: nf4": the model picked from files is quantized as it streams
 * in (here through Node's WebGPU and the folder as `ModelFiles`, as a picked folder reads in the page).
 */
import { requestNodeGpu } from '@llara/gpu/node';
import { folderFiles } from '@llara/llama/node';
import { getRecipe } from '@llara/trainer';
import { expect, it } from 'vitest';
import { prepareModel, uploadModel } from './load-model.ts';

const STORIES = new URL('../../../data/models/stories260K', import.meta.url).pathname;

it('quantizes the base as it streams in when asked', async () => {
  const gpu = await requestNodeGpu();
  try {
    const source = { label: 'stories260K', files: folderFiles(STORIES), adapter: null };
    const prepared = await prepareModel(source, getRecipe('flag'));
    const loaded = await uploadModel(gpu, prepared, false, undefined, 'nf4');
    expect(loaded.model.weights.layers[0].up.dtype).toBe('nf4');
    expect(loaded.model.weights.embed.parts.map((p) => p.tensor.dtype)).toEqual(['nf4', 'f32']);
    expect(loaded.describe()).toMatch(/nf4 base/);
    loaded.destroy();
  } finally {
    gpu.destroy();
  }
});
