import { defineProject } from 'vitest/config';

export default defineProject({ test: { name: 'index', include: ['src/**/*.test.ts', 'test/**/*.test.ts'] } });
