/**
 * `node benchmarks/scripts/make-random-7b.mjs OUT [--layers N]`: the command line of make-random-model.ts
 * (kept apart so that importing the function runs nothing).
 */
import { makeRandomModel } from './make-random-model.ts';

const [out, flag, n] = process.argv.slice(2).filter((a) => a !== '--');
if (!out || (flag !== undefined && flag !== '--layers')) {
  process.stderr.write('usage: node benchmarks/scripts/make-random-7b.mjs OUT [--layers N]\n');
  process.exit(1);
}
await makeRandomModel(out, flag ? { layers: Number(n) } : {});
