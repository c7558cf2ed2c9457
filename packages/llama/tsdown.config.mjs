import { defineConfig } from 'tsdown';
import { libraryConfig } from '../../scripts/library-build.mjs';

export default defineConfig(libraryConfig({ index: 'src/index.ts', node: 'src/node.ts' }));
