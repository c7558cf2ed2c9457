import { formatCapabilities } from '@llara/gpu';
import { requestNodeGpu } from '@llara/gpu/node';
import type { Command } from 'commander';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('Print the WebGPU adapter, its features, subgroup and subgroup-matrix support, and limits.')
    .option('--backend <name>', 'Dawn backend (vulkan, metal, d3d12, ...)')
    .option('--adapter <name>', 'adapter name to pick')
    .option('--json', 'print the capability report as JSON')
    .addHelpText('after', '\nExample:\n  pnpm llara doctor\n  pnpm llara doctor --json')
    .action(async (opts: { backend?: string; adapter?: string; json?: boolean }) => {
      const gpu = await requestNodeGpu({ backend: opts.backend, adapter: opts.adapter });
      try {
        if (opts.json) console.log(JSON.stringify(gpu.caps, null, 2));
        else console.log(formatCapabilities(gpu.caps));
      } finally {
        gpu.destroy();
      }
    });
}
