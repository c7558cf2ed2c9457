/**
 * Entry of the one program run on a benchmark machine (bundled by scripts/build-device-bundle.mjs into
 * .device/bundle/device-main.mjs, next to Dawn's binary; see benchmarks/gpu/run-all.sh). The commands
 * and exit statuses are in device-commands.ts.
 */
import { runDeviceMain } from './device-commands.ts';

process.exit(await runDeviceMain(process.argv.slice(2)));
