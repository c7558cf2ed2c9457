import { defineConfig } from 'vitest/config';

// Vitest 5's reporter calls Map.groupBy, which Node 20 (our supported floor) lacks.
if (!(Map as unknown as { groupBy?: unknown }).groupBy) {
  (Map as unknown as { groupBy: unknown }).groupBy = <K, V>(
    items: Iterable<V>,
    key: (v: V, i: number) => K,
  ) => {
    const out = new Map<K, V[]>();
    let i = 0;
    for (const v of items) {
      const k = key(v, i++);
      const list = out.get(k);
      if (list) list.push(v);
      else out.set(k, [v]);
    }
    return out;
  };
}

// One runner for the whole workspace: each package is a project with its own tests.
// GPU tests share one software adapter on CI (2 cores), so files run two at a time at most.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'benchmarks'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
