/**
 * The CLI never loses or mixes work (issue 22): a training folder holds one run, a resume continues
 * that run only, an interrupted run exits 130 with its checkpoint, a failed `index build` leaves the
 * old index whole, and `embed` refuses to resume over changed input.
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { writeNpy } from '@llara/index/node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DATA,
  DOCS,
  runCli as run,
  STORIES,
  tempDir as tmp,
  writeJsonl,
} from '../src/commands/test-harness.ts';

const GOLDEN = `${DATA}goldens/llara-flag-stories260K`;

afterEach(() => vi.restoreAllMocks());

const pretrain = (out: string, ...more: string[]) => [
  'pretrain',
  '--model',
  STORIES,
  '--data',
  `${GOLDEN}/data.jsonl`,
  '--out',
  out,
  '--steps',
  '4',
  '--batch',
  '1',
  '--max-len',
  '96',
  '--lora-r',
  '2',
  '--lr',
  '1e-2',
  '--save-every',
  '2',
  ...more,
];

/** Sends one SIGINT (as a Ctrl-C would) as soon as the command has installed its handler. */
function interruptOnce(): () => void {
  const before = process.listenerCount('SIGINT');
  const timer = setInterval(() => {
    if (process.listenerCount('SIGINT') > before) {
      clearInterval(timer);
      process.emit('SIGINT');
    }
  }, 2);
  return () => clearInterval(timer);
}

const steps = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { step: number }).step);
const runOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'trainer_state.json'), 'utf8')).run;
const snapshot = (dir: string) => ({
  names: readdirSync(dir).sort(),
  adapter: readFileSync(join(dir, 'adapter', 'adapter_model.safetensors')),
  metrics: readFileSync(join(dir, 'metrics.jsonl'), 'utf8'),
});

describe('one training run per folder', () => {
  it('refuses a second run into the folder, overwrites only when asked, and an interrupted run exits 130 and resumes alone', async () => {
    const out = join(tmp(), 'run');
    const first = await run(pretrain(out));
    expect(first.code, first.err).toBe(0);
    const a = snapshot(out);
    expect(a.names).toEqual(['adapter', 'checkpoint-2', 'checkpoint-4', 'loss-curve.svg', 'metrics.jsonl']);

    // The same command again: refused in one sentence, and nothing of the first run is touched.
    const again = await run(pretrain(out));
    expect(again.code).toBe(1);
    expect(again.err.trim()).toBe(
      `llara: ${out} already holds a training run (adapter, checkpoint-2, checkpoint-4, loss-curve.svg, ...); pass --resume to continue it, --overwrite to replace it, or choose another --out.`,
    );
    expect(snapshot(out)).toEqual(a);
    // Fine-tuning into it is refused the same way, and resuming it as fine-tuning names the kind.
    const ft = writeJsonl(join(tmp(), 'ft.jsonl'), [{ query: 'q', pos: ['p'], neg: ['n'] }]);
    const ftArgs = ['finetune', '--model', STORIES, '--data', ft, '--out', out, '--steps', '1'];
    expect((await run(ftArgs)).err).toMatch(/already holds a training run/);
    const ftResume = await run([...ftArgs, '--resume']);
    expect(ftResume.code).toBe(1);
    expect(ftResume.err).toMatch(
      /it is a pretraining checkpoint, and this is fine-tuning; choose another --out\.$/m,
    );
    expect(snapshot(out)).toEqual(a);

    // A second run with --overwrite, interrupted after its first step: exit 130, its checkpoint kept,
    // and nothing of the first run left to be picked up by a resume.
    const stop = interruptOnce();
    const b = await run(pretrain(out, '--overwrite', '--seed', '5'));
    stop();
    expect(b.code, b.err).toBe(130);
    expect(JSON.parse(b.out).stopped_early).toBe(true);
    expect(b.err).toMatch(/stopped early; the checkpoint is in .*--resume to continue\./);
    expect(readdirSync(out).sort()).toEqual(['adapter', 'checkpoint-1', 'loss-curve.svg', 'metrics.jsonl']);
    expect(steps(join(out, 'metrics.jsonl'))).toEqual([0]);
    const id = runOf(join(out, 'checkpoint-1'));
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    // Resuming with other LoRA settings is refused, like other changed settings.
    const changed = await run(pretrain(out, '--seed', '5', '--resume', '--lora-r', '4'));
    expect(changed.code).toBe(1);
    expect(changed.err).toMatch(/it was trained with LoRA r = 2, not 4;/);
    const targets = await run(pretrain(out, '--seed', '5', '--resume', '--lora-targets', 'q_proj'));
    expect(targets.err).toMatch(/LoRA targets = .*, not q_proj;/);

    // A truncated optimizer state is the user's file: one sentence, exit 1.
    const broken = join(tmp(), 'broken');
    cpSync(out, broken, { recursive: true });
    truncateSync(join(broken, 'checkpoint-1', 'optimizer.safetensors'), 100);
    const bad = await run(pretrain(broken, '--seed', '5', '--resume'));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/optimizer\.safetensors is truncated/);

    const resumed = await run(pretrain(out, '--seed', '5', '--resume'));
    expect(resumed.code, resumed.err).toBe(0);
    expect(steps(join(out, 'metrics.jsonl'))).toEqual([0, 1, 2, 3]);
    expect(readdirSync(out).filter((n) => n.startsWith('checkpoint'))).toEqual([
      'checkpoint-2',
      'checkpoint-4',
    ]);
    for (const c of ['checkpoint-2', 'checkpoint-4']) expect(runOf(join(out, c))).toBe(id);
    expect(readFileSync(join(out, 'adapter', 'adapter_model.safetensors')).equals(a.adapter)).toBe(false);
  });
});

describe('index build keeps the old index when it fails', () => {
  it('checks every input before writing and swaps the new index in whole', async () => {
    const dir = tmp();
    const vectors = (seed: number) => Float32Array.from({ length: 3 * 4 }, (_, i) => Math.sin(seed + i));
    const npy = join(dir, 'emb.npy');
    await writeNpy(npy, { dtype: 'f4', shape: [3, 4], data: vectors(1) });
    writeFileSync(join(dir, 'emb.ids.json'), JSON.stringify(['d1', 'd2', 'd5']));
    const corpus = writeJsonl(join(dir, 'corpus.jsonl'), DOCS);
    const out = join(dir, 'index');
    const build = (...more: string[]) => run(['index', 'build', '--embeddings', npy, '--out', out, ...more]);
    const other = join(dir, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    const taken = await run(['index', 'build', '--embeddings', npy, '--out', other]);
    expect(taken.err.trim()).toBe(
      `llara: --out ${other} is a folder that holds something other than an index; choose a new or empty folder.`,
    );
    mkdirSync(out); // an empty folder made ahead is fine
    expect((await build('--texts', corpus)).code).toBe(0);
    const files = () =>
      Object.fromEntries(readdirSync(out).map((n) => [n, readFileSync(join(out, n), 'utf8')]));
    const good = files();
    expect(Object.keys(good).sort()).toEqual(['ids.json', 'index.json', 'texts.jsonl', 'vectors.bin']);

    await writeNpy(npy, { dtype: 'f4', shape: [3, 4], data: vectors(2) });
    const missing = await build('--texts', join(dir, 'nope.jsonl'));
    expect(missing.code).toBe(1);
    expect(missing.err.trim()).toBe(`llara: The texts file ${join(dir, 'nope.jsonl')} does not exist.`);
    const folder = await build('--texts', dir);
    expect(folder.err.trim()).toBe(`llara: The texts file ${dir} is not a file.`);
    writeFileSync(join(dir, 'bad.jsonl'), '{"_id": "d1", "text": "ok"}\n{oops\n');
    const badLine = await build('--texts', join(dir, 'bad.jsonl'));
    expect(badLine.err).toMatch(/bad\.jsonl line 2 is not valid JSON/);
    expect(files()).toEqual(good);

    expect((await build('--texts', corpus)).code).toBe(0);
    const next = files();
    expect(next['texts.jsonl']).toBe(good['texts.jsonl']);
    expect(next['vectors.bin']).not.toBe(good['vectors.bin']);
    expect(readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([]);
  });
});

describe('embed into an existing folder', () => {
  const common = ['embed', '--model', STORIES, '--batch', '2', '--max-len', '64'];

  it('refuses to resume over rows whose text changed, and --no-resume embeds them again', async () => {
    const dir = tmp();
    const input = writeJsonl(join(dir, 'corpus.jsonl'), DOCS);
    const out = join(dir, 'emb');
    expect((await run([...common, '--in', input, '--out', out])).code).toBe(0);
    const same = await run([...common, '--in', input, '--out', out]);
    expect(JSON.parse(same.out)).toMatchObject({ rows: 5, embedded: 0, skipped: 5 });

    writeJsonl(
      input,
      DOCS.map((d, i) => (i === 1 ? { ...d, text: 'Another text entirely.' } : d)),
    );
    const changed = await run([...common, '--in', input, '--out', out]);
    expect(changed.code).toBe(1);
    expect(changed.err.trim().split('\n').at(-1)).toBe(
      `llara: ${input} line 2 (id "d2") is not the text that ${out} embedded for that id; pass --no-resume to embed everything again, or choose another --out.`,
    );
    const fresh = await run([...common, '--in', input, '--out', out, '--no-resume']);
    expect(JSON.parse(fresh.out)).toMatchObject({ rows: 5, embedded: 5, skipped: 0 });
    // Rows appended to the corpus are still added on a resume.
    writeFileSync(input, `${readFileSync(input, 'utf8')}{"_id": "d9", "text": "A new row."}\n`);
    const grown = await run([...common, '--in', input, '--out', out]);
    expect(JSON.parse(grown.out)).toMatchObject({ rows: 6, embedded: 1, skipped: 5 });
  });

  it('refuses an --out that is the input or looks like a file name, before loading the model', async () => {
    const dir = tmp();
    const input = writeJsonl(join(dir, 'corpus.jsonl'), DOCS);
    const txt = await run([...common, '--in', input, '--out', join(dir, 'x.txt')]);
    expect(txt.code).toBe(1);
    expect(txt.err).toMatch(
      /--out .*x\.txt looks like a file name, but embed writes a \.npy file or a directory/,
    );
    expect(existsSync(join(dir, 'x.txt'))).toBe(false);
    const self = await run([...common, '--in', input, '--out', input]);
    expect(self.err.trim()).toBe(`llara: --out ${input} is the input file --in; choose another path.`);
    writeFileSync(join(dir, 'ids.json'), '[[1, 403]]');
    const hidden = await run(['hidden', '--ids', join(dir, 'ids.json'), '--out', join(dir, 'ids.json')]);
    expect(hidden.code).toBe(1);
    expect(hidden.err.trim()).toBe(
      `llara: --out ${join(dir, 'ids.json')} is the ids file --ids; choose another path.`,
    );
    expect(readFileSync(join(dir, 'ids.json'), 'utf8')).toBe('[[1, 403]]');
  });
});
