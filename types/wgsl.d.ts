// WGSL sources live in real .wgsl files and are imported as text (`import src from './x.wgsl?raw'`):
// Vite/Vitest understand `?raw` natively; the CLI and benchmark bundles use an esbuild plugin.
declare module '*.wgsl?raw' {
  const source: string;
  export default source;
}
