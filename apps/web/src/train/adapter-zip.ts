/**
 * The trained adapter as a PEFT folder in a zip (`llara-adapter/adapter_config.json` and
 * `llara-adapter/adapter_model.safetensors`): unzipped, it is what `llara embed --adapter` and
 * `llara eval --adapter` read.
 *
 * @example
 * const blob = new Blob([adapterZip(files)], { type: 'application/zip' });
 */
import { zipSync } from 'fflate';
import type { AdapterFiles } from './protocol.ts';

export const ADAPTER_FOLDER = 'llara-adapter';

export function adapterZip(files: AdapterFiles): Uint8Array {
  // Flat paths: no separate folder entry, just the two files under the folder's name.
  return zipSync({
    [`${ADAPTER_FOLDER}/adapter_config.json`]: new TextEncoder().encode(files['adapter_config.json']),
    // Safetensors is already dense floats: storing it uncompressed keeps the zip fast to make.
    [`${ADAPTER_FOLDER}/adapter_model.safetensors`]: [files['adapter_model.safetensors'], { level: 0 }],
  });
}
