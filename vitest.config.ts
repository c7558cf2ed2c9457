import { defineConfig } from 'vitest/config';

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
