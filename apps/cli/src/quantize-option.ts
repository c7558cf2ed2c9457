/**
 * `--quantize q8|q4|nf4`, shared by every command that loads a model: the base's matrices are held
 * block-quantized on the GPU (docs/quantization.md). One place, so each command adds one line.
 *
 * ```ts
 * program.command('hidden').addOption(quantizeOption())...
 * ```
 */
import { isQuantFormat, type QuantFormat } from '@llara/gpu';
import { InvalidArgumentError, Option } from 'commander';

export function quantizeOption(
  what = 'hold the base weights block-quantized on the GPU: q8, q4 or nf4 (docs/quantization.md)',
): Option {
  return new Option('--quantize <format>', what).argParser((v: string): QuantFormat => {
    if (!isQuantFormat(v)) throw new InvalidArgumentError(`--quantize must be q8, q4 or nf4, got "${v}".`);
    return v;
  });
}
