/**
 * The f32 attention kernels read and write head-dim rows in vec4 chunks (a last partial chunk padded
 * or clipped). WGSL cannot pass a storage array to a function, so each kernel gets one copy of the
 * accessor per array, made here from attention-row-load.wgsl and attention-row-store.wgsl.
 *
 * ```ts
 * const wgsl = rowAccess({ load: { load_q4: 'q' }, store: { store_out4: 'out' } });
 * ```
 */
import loadTemplate from './attention-row-load.wgsl?raw';
import storeTemplate from './attention-row-store.wgsl?raw';

function instantiate(template: string, fns: Record<string, string>): string[] {
  return Object.entries(fns).map(([name, array]) =>
    template.replace(/\bNAME\b/g, name).replace(/\bARRAY\b/g, array),
  );
}

/** WGSL functions `name(base, c) -> vec4f` reading, and `name(base, c, x)` writing, chunk c of a row of `array`. */
export function rowAccess(o: { load: Record<string, string>; store: Record<string, string> }): string {
  return [...instantiate(loadTemplate, o.load), ...instantiate(storeTemplate, o.store)].join('\n');
}
