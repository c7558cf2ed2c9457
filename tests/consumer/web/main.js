// A page built by plain Vite (no plugins) from the installed tarballs: stories260K (served from public/)
// embeds one text on the browser's WebGPU device. The result goes to the title for the test to read.
import { requestBrowserGpu } from '@llara/gpu';
import { openModel, uploadModel, urlFiles } from '@llara/llama';
import { Embedder, getRecipe, specialTokensToAppend } from '@llara/trainer';

async function main() {
  const opened = await openModel(urlFiles(new URL('model/', location.href).href));
  const recipe = getRecipe('flag');
  const gpu = await requestBrowserGpu();
  const addedTokens = specialTokensToAppend(recipe, opened.tokenizer);
  const model = await uploadModel(gpu, opened.config, opened.checkpoint, { addedTokens });
  const embedder = new Embedder(model, opened.tokenizer, recipe, {
    maxLen: 64,
    baseVocab: opened.config.vocabSize,
  });
  const v = await embedder.embed(['Lift rises with the angle of attack.'], 'query');
  const norm = Math.hypot(...v);
  return { dim: embedder.dim, norm, adapter: gpu.caps.adapter.description || gpu.caps.adapter.vendor };
}

main().then(
  (r) => {
    document.querySelector('#out').textContent = JSON.stringify(r);
    document.title = 'done';
  },
  (e) => {
    document.querySelector('#out').textContent = `error: ${e?.message ?? e}`;
    document.title = 'error';
  },
);
