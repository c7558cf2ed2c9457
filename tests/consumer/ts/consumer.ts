// A TypeScript consumer of every library, type-checked with `tsc --strict` against the packed .d.ts.
import { compareClose, type Gpu, randomArray, type Tensor } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import { type Evaluation, evaluate, GpuFlatIndex, type Run, type SearchHit } from '@llara/index';
import { loadBeir } from '@llara/index/node';
import { type MatmulOptions, matmul, matmulRef } from '@llara/kernels';
import { type LlamaModel, type OpenedModel, uploadModel } from '@llara/llama';
import { openModelFolder } from '@llara/llama/node';
import { Embedder, getRecipe, type Recipe, specialTokensToAppend } from '@llara/trainer';
import { runPretrain } from '@llara/trainer/node';

export async function checkMatmul(gpu: Gpu): Promise<boolean> {
  const o: MatmulOptions = { M: 4, N: 5, K: 6 };
  const a = randomArray(o.M * o.K, 1);
  const b = randomArray(o.K * o.N, 2);
  const [A, B, C]: Tensor[] = [
    gpu.tensor('f32', [o.M, o.K], a),
    gpu.tensor('f32', [o.K, o.N], b),
    gpu.tensor('f32', [o.M, o.N]),
  ];
  const rec = gpu.recorder();
  matmul(rec, A, B, C, o);
  // @ts-expect-error the options need M, N and K: proves the declarations are typed, not `any`
  matmul(rec, A, B, C, {});
  rec.submit();
  return compareClose(await gpu.read(C), matmulRef(a, b, null, o), { atol: 1e-5, rtol: 1e-4 }).ok;
}

export async function embedFolder(dir: string, texts: string[]): Promise<Float32Array> {
  const opened: OpenedModel = await openModelFolder(dir);
  const recipe: Recipe = getRecipe('flag');
  const tokenizer = opened.tokenizer;
  if (!tokenizer) throw new Error(`${dir} has no tokenizer.json.`);
  const gpu = await requestNodeGpu();
  const addedTokens = specialTokensToAppend(recipe, tokenizer);
  const model: LlamaModel = await uploadModel(gpu, opened.config, opened.checkpoint, { addedTokens });
  const embedder = new Embedder(model, tokenizer, recipe, { maxLen: 64 });
  return embedder.embed(texts, 'query');
}

export async function searchBeir(dir: string, vectors: (texts: string[]) => Float32Array): Promise<number> {
  const { corpus, queries, qrels } = await loadBeir(dir);
  const gpu = await requestNodeGpu();
  const index = new GpuFlatIndex(gpu, 8);
  index.add(
    corpus.map((d) => d.id),
    vectors(corpus.map((d) => d.text)),
  );
  const hits: SearchHit[][] = await index.search(vectors(queries.map((q) => q.text)), 10);
  const run: Run = new Map(queries.map((q, i) => [q.id, new Map(hits[i].map((h) => [h.id, h.score]))]));
  const result: Evaluation = evaluate(qrels, run);
  return result.metrics['ndcg@10'];
}

export const pretrain: typeof runPretrain = runPretrain;
